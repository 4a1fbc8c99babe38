"""The `kalshi` section of a state file, and the built-in default the demo uses.

```json
{"markets": [{"ticker": "KX-A", "event_ticker": "KX", "status": "active", "title": "...",
              "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
              "close_time": "2026-12-31T23:00:00Z",
              "book": {"yes_dollars": [["0.4700", "3.00"]], "no_dollars": [["0.4800", "3.00"]]}}],
 "accounts": [{"name": "default", "balance": "1000.00", "api_keys": {"<key id>": "<public PEM>"},
               "positions": {"KX-A": "3.00"}, "direct_member": false}]}
```

`direct_member` (default false) keeps the account's balance to $0.0001 after each fill, as Kalshi does for direct
members of the exchange; an ordinary API user's balance is kept to $0.01 (docs/wire/kalshi.md, fee rounding).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from simulator import demo_accounts
from simulator.kalshi.model import ONE, Account, Market, Position
from simulator.state import StateError, read_bool, read_decimal, read_list, read_str

MARKET_STATUSES = ("initialized", "active", "inactive", "closed", "determined", "disputed", "amended", "finalized")
LINEAR_CENT = [(Decimal("0.0000"), Decimal("1.0000"), Decimal("0.0100"))]
Levels = list[tuple[Decimal, Decimal]]


@dataclass
class KalshiSetup:
    """A parsed section: what a fresh (or reset) exchange starts from."""

    markets: list[Market]
    books: dict[str, tuple[Levels, Levels]]  # ticker -> (YES bids, YES asks)
    accounts: list[Account]
    keys: dict[str, tuple[str, Any]]


DEFAULT_SECTION: dict[str, Any] = {
    "markets": [
        {
            "ticker": "KXDEMOMATCH-26DEC31ALIBOB-ALI",
            "event_ticker": "KXDEMOMATCH-26DEC31ALIBOB",
            "title": "Will Ali win the Ali vs Bob demo match?",
            "yes_sub_title": "Ali",
            "no_sub_title": "Ali",
            "close_time": "2026-12-31T23:00:00Z",
            "book": {
                "yes_dollars": [["0.4500", "50.00"], ["0.4700", "25.00"]],
                "no_dollars": [["0.4600", "50.00"], ["0.4800", "25.00"]],
            },
        },
        {
            "ticker": "KXDEMOMATCH-26DEC31ALIBOB-BOB",
            "event_ticker": "KXDEMOMATCH-26DEC31ALIBOB",
            "title": "Will Bob win the Ali vs Bob demo match?",
            "yes_sub_title": "Bob",
            "no_sub_title": "Bob",
            "close_time": "2026-12-31T23:00:00Z",
            "book": {
                "yes_dollars": [["0.4800", "40.00"], ["0.5000", "20.00"]],
                "no_dollars": [["0.4400", "40.00"], ["0.4600", "20.00"]],
            },
        },
    ],
    "accounts": [{"name": "default", "balance": "1000.00"}],
}


def load_public_key(pem: Any, where: str) -> Any:
    if not isinstance(pem, str):
        raise StateError(where, "must be a PEM public key string")
    try:
        key = load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise StateError(where, "is not a PEM public key (expected -----BEGIN PUBLIC KEY-----)") from None
    if not isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise StateError(where, "must be an RSA or Ed25519 public key")
    return key


def parse_levels(levels: Any, where: str) -> Levels:
    if not isinstance(levels, list):
        raise StateError(where, 'must be a list of ["price", "count"] pairs')
    parsed = []
    for i, level in enumerate(levels):
        if not isinstance(level, list) or len(level) != 2:
            raise StateError(f"{where}[{i}]", 'must be a ["price", "count"] pair')
        parsed.append((read_decimal(level[0], f"{where}[{i}][0]"), read_decimal(level[1], f"{where}[{i}][1]")))
    return parsed


def parse_book(book: Any, where: str) -> tuple[Levels, Levels]:
    """YES bids and YES asks from an orderbook_fp-shaped object (NO bids at NO-leg prices)."""
    if not isinstance(book, dict):
        raise StateError(where, "must be an object with yes_dollars and/or no_dollars")
    bids = parse_levels(book.get("yes_dollars", []), f"{where}.yes_dollars")
    asks = [(ONE - p, c) for p, c in parse_levels(book.get("no_dollars", []), f"{where}.no_dollars")]
    return bids, asks


def _time(value: Any, where: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise StateError(where, "must be Unix seconds or an RFC3339 time like 2026-12-31T23:00:00Z")


def _price_ranges(spec: dict, where: str) -> list[tuple[Decimal, Decimal, Decimal]]:
    if "price_ranges" not in spec:
        return list(LINEAR_CENT)
    ranges = []
    for i, item in enumerate(read_list(spec, "price_ranges", where)):
        at = f"{where}.price_ranges[{i}]"
        if not isinstance(item, dict):
            raise StateError(at, "must be {start, end, step}")
        start, end, step = (read_decimal(item.get(k), f"{at}.{k}") for k in ("start", "end", "step"))
        if step <= 0 or start >= end:
            raise StateError(at, "needs start < end and step > 0")
        ranges.append((start, end, step))
    return ranges or list(LINEAR_CENT)


def parse_market(spec: Any, where: str, now: float) -> tuple[Market, tuple[Levels, Levels]]:
    if not isinstance(spec, dict):
        raise StateError(where, "must be an object")
    ticker = read_str(spec, "ticker", where)
    status = read_str(spec, "status", where, "active")
    if status not in MARKET_STATUSES:
        raise StateError(f"{where}.status", f"must be one of {', '.join(MARKET_STATUSES)}")
    title = read_str(spec, "title", where, ticker)
    details = {
        k: spec[k]
        for k in ("custom_strike", "early_close_condition", "strike_type", "can_close_early", "price_level_structure")
        if k in spec
    }
    market = Market(
        ticker=ticker,
        event_ticker=read_str(spec, "event_ticker", where, ticker.rsplit("-", 1)[0]),
        title=title,
        yes_sub_title=read_str(spec, "yes_sub_title", where, ""),
        no_sub_title=read_str(spec, "no_sub_title", where, ""),
        status=status,
        price_ranges=_price_ranges(spec, where),
        created_time=now,
        open_time=_time(spec.get("open_time"), f"{where}.open_time", float(int(now) - 3600)),
        close_time=_time(spec.get("close_time"), f"{where}.close_time", float(int(now) + 30 * 86400)),
        rules_primary=read_str(spec, "rules_primary", where, ""),
        rules_secondary=read_str(spec, "rules_secondary", where, ""),
        details=details,
    )
    book = parse_book(spec.get("book", {}), f"{where}.book")
    for price, count in book[0] + book[1]:
        if not market.on_grid(price) or count <= 0:
            raise StateError(f"{where}.book", f"level {price} x {count} is off the price grid or not positive")
    return market, book


def parse_account(
    spec: Any, where: str, markets: dict[str, Market], now: float
) -> tuple[Account, dict[str, tuple[str, Any]]]:
    if not isinstance(spec, dict):
        raise StateError(where, "must be an object")
    name = read_str(spec, "name", where)
    direct_member = read_bool(spec, "direct_member", where, False)
    balance = read_decimal(spec.get("balance", "0"), f"{where}.balance")
    account = Account(name, str(uuid.uuid4()), balance, updated_ts=now, direct_member=direct_member)
    if balance % account.balance_precision:
        raise StateError(
            f"{where}.balance",
            f"must be a multiple of ${account.balance_precision} (Kalshi's balance precision for "
            f"{'direct' if direct_member else 'non-direct'} members; see direct_member), got {balance}",
        )
    keys_spec = spec.get("api_keys", {})
    if not isinstance(keys_spec, dict):
        raise StateError(f"{where}.api_keys", "must map key ids to public PEM strings")
    keys = {key_id: (name, load_public_key(pem, f"{where}.api_keys.{key_id}")) for key_id, pem in keys_spec.items()}
    positions = spec.get("positions", {})
    if not isinstance(positions, dict):
        raise StateError(f"{where}.positions", "must map tickers to signed counts (+YES, -NO)")
    for ticker, count in positions.items():
        if ticker not in markets:
            raise StateError(f"{where}.positions.{ticker}", "unknown market ticker")
        account.positions[ticker] = Position(
            position=read_decimal(count, f"{where}.positions.{ticker}"), last_updated=now
        )
    return account, keys


def parse_section(section: dict | None, now: float, where: str = "kalshi") -> KalshiSetup:
    """Validate a `kalshi` section (None = the built-in default)."""
    section = DEFAULT_SECTION if section is None else section
    if not isinstance(section, dict):
        raise StateError(where, "must be an object")
    markets, books = [], {}
    for i, spec in enumerate(read_list(section, "markets", where)):
        market, book = parse_market(spec, f"{where}.markets[{i}]", now)
        if market.ticker in books:
            raise StateError(f"{where}.markets[{i}].ticker", f"duplicate ticker {market.ticker}")
        markets.append(market)
        books[market.ticker] = book
    by_ticker = {m.ticker: m for m in markets}
    accounts: list[Account] = []
    keys: dict[str, tuple[str, Any]] = {}
    for i, spec in enumerate(read_list(section, "accounts", where)):
        account, account_keys = parse_account(spec, f"{where}.accounts[{i}]", by_ticker, now)
        if any(a.name == account.name for a in accounts):
            raise StateError(f"{where}.accounts[{i}].name", f"duplicate account {account.name}")
        accounts.append(account)
        keys.update(account_keys)
    if not accounts:
        accounts.append(Account("default", str(uuid.uuid4()), Decimal("1000.00"), updated_ts=now))
    keys.setdefault(
        demo_accounts.KALSHI_KEY_ID, (accounts[0].name, load_public_key(demo_accounts.kalshi_public_pem(), "demo"))
    )
    return KalshiSetup(markets, books, accounts, keys)
