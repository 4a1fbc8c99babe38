"""The `poly` section of the state file: markets with their tokens and books, and accounts.

Validated up front so a bad file fails at start-up with the field named
(`poly.markets[0].tick_size: ...`), never on the first order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from eth_utils import is_hex_address, to_checksum_address

from ctf_order import decimal_digits
from simulator import demo_accounts
from simulator.poly.model import ONE, ZERO, Account, Market, Token
from simulator.state import StateError, read_bool, read_decimal, read_list, read_str

TICK_SIZES = (Decimal("0.1"), Decimal("0.01"), Decimal("0.005"), Decimal("0.0025"), Decimal("0.001"), Decimal("0.0001"))
HARDHAT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEMO_ACCOUNT = {"address": demo_accounts.POLY_ADDRESS, "signature_type": 0, "balance": demo_accounts.POLY_BALANCE}


@dataclass(frozen=True)
class Level:
    price: Decimal
    size: Decimal


@dataclass
class Settings:
    mined_after_s: int = 2
    confirmed_after_s: int = 10
    page_size: int = 100


@dataclass
class PolyState:
    """Everything a fresh (or reset) exchange starts from."""

    markets: list[Market]
    tokens: dict[str, Token]
    accounts: dict[str, Account]  # checksummed EOA -> account
    books: dict[str, tuple[list[Level], list[Level]]]  # token id -> (bids, asks) of the market maker
    settings: Settings = field(default_factory=Settings)


DEFAULT_SECTION: dict[str, Any] = {
    "markets": [
        {
            "condition_id": "0x69178dcea3b5ef51300982f5cff10988188058ce6040b0e5323c7804a2446c54",
            "tick_size": "0.01",
            "min_order_size": "5",
            "neg_risk": False,
            "tokens": [
                {
                    "token_id": "79724115531796500154169490257471921577484206843216046510639004913120922178416",
                    "outcome": "Yes",
                    "bids": [{"price": "0.47", "size": "500"}, {"price": "0.46", "size": "1000"}],
                    "asks": [{"price": "0.49", "size": "500"}, {"price": "0.50", "size": "1000"}],
                },
                {
                    "token_id": "51288545342541818958055448777263985995768425756818071463056658856703683003905",
                    "outcome": "No",
                    "bids": [{"price": "0.51", "size": "500"}, {"price": "0.50", "size": "1000"}],
                    "asks": [{"price": "0.53", "size": "500"}, {"price": "0.54", "size": "1000"}],
                },
            ],
        },
        {
            "condition_id": "0x4ec57c2e78406859d3e3f269df59b9c35620e4335926869aa28350f84b981d05",
            "tick_size": "0.001",
            "min_order_size": "5",
            "neg_risk": True,
            "tokens": [
                {
                    "token_id": "62112597151186977886883919284917902807001380206862591777191341580299727660063",
                    "outcome": "Yes",
                    "bids": [{"price": "0.120", "size": "800"}],
                    "asks": [{"price": "0.125", "size": "800"}],
                },
                {
                    "token_id": "79483709384426851028233217286096550769086106729482022634382809413325868456493",
                    "outcome": "No",
                    "bids": [{"price": "0.874", "size": "800"}],
                    "asks": [{"price": "0.881", "size": "800"}],
                },
            ],
        },
    ],
    "accounts": [{"address": HARDHAT_0, "signature_type": 0, "balance": "1000"}],
}


def parse_section(section: dict | None, where: str = "poly") -> PolyState:
    """Validate a `poly` section (None: the built-in default) into a PolyState."""
    if section is None:
        section = DEFAULT_SECTION
    if not isinstance(section, dict):
        raise StateError(where, "must be an object")
    state = PolyState(markets=[], tokens={}, accounts={}, books={}, settings=_settings(section, where))
    for i, spec in enumerate(read_list(section, "markets", where)):
        _add_market(state, spec, f"{where}.markets[{i}]")
    for i, spec in enumerate(read_list(section, "accounts", where)):
        account = _account(spec, f"{where}.accounts[{i}]", state.tokens)
        if account.address in state.accounts:
            raise StateError(f"{where}.accounts[{i}].address", f"duplicate account {account.address}")
        state.accounts[account.address] = account
    if demo_accounts.POLY_ADDRESS not in state.accounts:
        state.accounts[demo_accounts.POLY_ADDRESS] = _account(DEMO_ACCOUNT, "demo account", state.tokens)
    return state


def _settings(section: dict, where: str) -> Settings:
    settings = Settings()
    for name in ("mined_after_s", "confirmed_after_s", "page_size"):
        value = section.get(name, getattr(settings, name))
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "page_size" else 0):
            raise StateError(f"{where}.{name}", f"must be a non-negative integer, got {value!r}")
        setattr(settings, name, value)
    if settings.confirmed_after_s < settings.mined_after_s:
        raise StateError(f"{where}.confirmed_after_s", "must be >= mined_after_s")
    return settings


def _add_market(state: PolyState, spec: Any, where: str) -> None:
    if not isinstance(spec, dict):
        raise StateError(where, "must be an object")
    condition_id = read_str(spec, "condition_id", where)
    if not (condition_id.startswith("0x") and len(condition_id) == 66):
        raise StateError(f"{where}.condition_id", f"must be 0x + 64 hex digits, got {condition_id!r}")
    tick = read_decimal(spec.get("tick_size", "0.01"), f"{where}.tick_size")
    if tick not in TICK_SIZES:
        raise StateError(f"{where}.tick_size", f"must be one of {', '.join(map(str, TICK_SIZES))}, got {tick}")
    version = spec.get("domain_version", 2)
    if version not in (2, 3) or isinstance(version, bool):
        raise StateError(f"{where}.domain_version", f"must be 2 (CLOB V2) or 3 (ExchangeV3), got {version!r}")
    market = Market(
        condition_id=condition_id,
        tick_size=tick,
        min_order_size=_non_negative(spec.get("min_order_size", "5"), f"{where}.min_order_size"),
        neg_risk=read_bool(spec, "neg_risk", where, False),
        domain_version=version,
        fee_rate=_non_negative(spec.get("fee_rate", "0"), f"{where}.fee_rate"),
        accepting_orders=read_bool(spec, "accepting_orders", where, True),
        closed=read_bool(spec, "closed", where, False),
    )
    if market.fee_rate >= ONE:
        raise StateError(f"{where}.fee_rate", 'must be below 1 (e.g. "0.04")')
    tokens = read_list(spec, "tokens", where)
    if not tokens:
        raise StateError(f"{where}.tokens", "at least one token is required")
    for j, token_spec in enumerate(tokens):
        _add_token(state, market, token_spec, f"{where}.tokens[{j}]")
    state.markets.append(market)


def _add_token(state: PolyState, market: Market, spec: Any, where: str) -> None:
    if not isinstance(spec, dict):
        raise StateError(where, "must be an object")
    token_id = read_str(spec, "token_id", where)
    if not decimal_digits(token_id) or int(token_id) >= 2**256:
        raise StateError(f"{where}.token_id", f"must be a uint256 decimal string, got {token_id!r}")
    if token_id in state.tokens:
        raise StateError(f"{where}.token_id", f"duplicate token {token_id}")
    token = Token(token_id, read_str(spec, "outcome", where, "Yes"), market)
    bids = parse_levels(spec.get("bids", []), f"{where}.bids", market.tick_size)
    asks = parse_levels(spec.get("asks", []), f"{where}.asks", market.tick_size)
    check_uncrossed(bids, asks, where)
    state.tokens[token_id] = token
    state.books[token_id] = (bids, asks)
    market.token_ids.append(token_id)


def parse_levels(value: Any, where: str, tick: Decimal) -> list[Level]:
    """Book levels `[{"price","size"}]`: prices on the tick grid, sizes with at most 2 decimals."""
    if not isinstance(value, list):
        raise StateError(where, 'must be a list of {"price", "size"}')
    levels: dict[Decimal, Level] = {}
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise StateError(f"{where}[{i}]", "must be an object with price and size")
        price = read_decimal(item.get("price"), f"{where}[{i}].price")
        size = read_decimal(item.get("size"), f"{where}[{i}].size")
        if not (tick <= price <= ONE - tick) or price % tick:
            raise StateError(
                f"{where}[{i}].price", f"{price} is not on the {tick} tick grid within [{tick}, {ONE - tick}]"
            )
        if size <= ZERO or size != size.quantize(Decimal("0.01")):
            raise StateError(f"{where}[{i}].size", f"must be positive with at most 2 decimals, got {size}")
        if price in levels:
            raise StateError(f"{where}[{i}].price", f"duplicate level {price}")
        levels[price] = Level(price, size)
    return list(levels.values())


def check_uncrossed(bids: list[Level], asks: list[Level], where: str) -> None:
    if bids and asks and max(b.price for b in bids) >= min(a.price for a in asks):
        raise StateError(where, "the market maker's best bid must be below its best ask")


def _non_negative(value: Any, where: str) -> Decimal:
    number = read_decimal(value, where)
    if number < ZERO:
        raise StateError(where, f"must be >= 0, got {number}")
    return number


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str) or not is_hex_address(value):
        raise StateError(where, f"must be a 0x-hex address, got {value!r}")
    return to_checksum_address(value)


def _account(spec: Any, where: str, tokens: dict[str, Token]) -> Account:
    if not isinstance(spec, dict):
        raise StateError(where, "must be an object")
    address = _address(spec.get("address"), f"{where}.address")
    signature_type = spec.get("signature_type", 0)
    if signature_type not in (0, 1, 2, 3) or isinstance(signature_type, bool):
        raise StateError(
            f"{where}.signature_type",
            f"must be 0 (EOA), 1 (proxy), 2 (Safe) or 3 (deposit wallet), got {signature_type!r}",
        )
    if signature_type == 0:
        if spec.get("funder") is not None and _address(spec["funder"], f"{where}.funder") != address:
            raise StateError(f"{where}.funder", "an EOA account (signature_type 0) trades from its own address")
        funder = address
    else:
        if spec.get("funder") is None:
            raise StateError(f"{where}.funder", f"required for signature_type {signature_type} (the wallet address)")
        funder = _address(spec["funder"], f"{where}.funder")
    positions = spec.get("positions", {})
    if not isinstance(positions, dict):
        raise StateError(f"{where}.positions", "must be an object {token_id: shares}")
    for token_id in positions:
        if token_id not in tokens:
            raise StateError(f"{where}.positions.{token_id}", "unknown token id (declare it under markets first)")
    allowance = spec.get("allowance")
    return Account(
        address=address,
        signature_type=signature_type,
        funder=funder,
        balance=_non_negative(spec.get("balance", "0"), f"{where}.balance"),
        positions={t: _non_negative(v, f"{where}.positions.{t}") for t, v in positions.items()},
        allowance=None if allowance is None else _non_negative(allowance, f"{where}.allowance"),
        deposit_wallet_required=read_bool(spec, "deposit_wallet_required", where, False),
    )
