"""Whether the exchange's own parameters of a pair's Polymarket market (`GET /clob-markets/{condition_id}`) allow
trading it as the pairs file describes; fail closed on anything that would make the engine's pricing or orders wrong.

Polymarket's category fee rates change (docs/wire/polymarket.md 4.4), so the pairs file's `poly_fee_rate` can be
stale. The engine prices each box with the file's rate; that is safe only while the exchange charges no more:
- `fd.r` (the taker rate) above the file's rate would overstate every edge: refused. Equal or below: the file's rate
  stands, which is max(file, exchange), never understating the fee.
- `fd.e` is the exponent of p(1 - p) in the fee curve, shares x r x (p(1 - p))^e. The engine's estimate is the e = 1
  curve; as p(1 - p) <= 1/4, any e >= 1 charges at most that, while e < 1 would charge more: refused.
- `fd.to` (taker only) does not change what a taker pays, and the engine only takes: not checked.
- Both of the pair's tokens must be the market's (`t`), it must accept orders (`ao`, left out when false), its
  neg-risk flag (`nr`) must be the file's (orders are signed for the neg-risk exchange or the other), and its minimum
  order size (`mos`) must not exceed the file's (a smaller leg would be refused after the other filled).
"""

from __future__ import annotations

from decimal import Decimal

from clients.polymarket.types import ClobMarket
from trader.pairs import Pair

ONE = Decimal(1)


def market_refusal(pair: Pair, market: ClobMarket) -> tuple[str, str] | None:
    """(reason code, sentence naming the field and both values) when the pair must not trade; None when it may."""
    where = f"GET /clob-markets/{pair.poly_condition_id}"
    fees = market.fees
    if fees.rate > pair.poly_fee_rate:
        return "fee_rate", (
            f"{where}: fd.r (taker fee rate) {fees.rate} is above the pairs file's poly_fee_rate {pair.poly_fee_rate}: "
            "every edge would be overstated; update poly_fee_rate and restart"
        )
    if fees.exponent < ONE:
        return "fee_rate", (
            f"{where}: fd.e (fee curve exponent) {fees.exponent} is below the 1 the engine prices with: the fee would "
            "be above its estimate"
        )
    missing = [token for token in pair.poly_tokens if token not in market.tokens]
    if missing:
        return "tokens", (
            f"{where}: t (the market's tokens) {', '.join(market.tokens) or 'none'} lacks the pairs file's "
            f"{', '.join(missing)} (poly_yes_token {pair.poly_yes_token}, poly_no_token {pair.poly_no_token})"
        )
    if not market.accepting_orders:
        return "not_accepting", f"{where}: ao (accepting orders) is false: the market takes no orders"
    if market.neg_risk != pair.poly_neg_risk:
        return "neg_risk", (
            f"{where}: nr (neg risk) {str(market.neg_risk).lower()} differs from the pairs file's poly_neg_risk "
            f"{str(pair.poly_neg_risk).lower()}: orders would be signed for the other exchange contract"
        )
    if market.min_order_size > pair.poly_min_order_size:
        return "min_order_size", (
            f"{where}: mos (minimum order size) {market.min_order_size} is above the pairs file's "
            f"poly_min_order_size {pair.poly_min_order_size}"
        )
    return None
