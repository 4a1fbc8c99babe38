"""The spending guard: caps the worst-case loss of orders sent to a live exchange in one session.

Which requests place orders, how each body is priced, and which writes place nothing come from the
exchange profiles (proxy.exchanges). A write (anything but GET/HEAD/OPTIONS) is priced, or on the
profile's list of harmless writes, or refused; an order body is read strictly (strict_json), so a body
servers could read two ways is refused, never priced on one reading. The guard exists for the case
nobody thought of.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from proxy.engine.flow import Failure, Flow
from proxy.exchanges import PROFILES
from proxy.exchanges.pricing import Unreadable
from proxy.exchanges.strict_json import Ambiguous
from proxy.exchanges.strict_json import loads as strict_loads
from proxy.exchanges.upstream import Upstream
from tapecontract import SPENDING_GUARD


@dataclass(frozen=True, slots=True)
class Refusal:
    # "max_order_usd", "max_session_usd", "unreadable_order", "unlisted_write", "unlisted_feed" or "method_override"
    reason: str
    detail: dict[str, Any]


class Unlisted(Unreadable):
    """A write the guard neither prices nor knows to place nothing."""


READS = frozenset({"GET", "HEAD", "OPTIONS"})
# Headers some frameworks honour to run a request as another method: a GET that a server reads as a POST.
METHOD_OVERRIDES = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")


def server_path(path: str) -> str:
    """`path` as a lenient server may read it: slashes merged, dot segments resolved, no trailing slash."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    return "/" + "/".join(segments)


def order_amounts(exchange: str, method: str, path: str, body: bytes) -> list[Decimal] | None:
    """Worst-case loss of each order the request places; None when it places none; Unreadable if unsure."""
    profile = PROFILES.get(exchange)
    if method in READS or profile is None:
        return None
    normal = server_path(path)
    for verb, pattern, price in profile.priced_writes:
        if verb == method and pattern.search(normal):
            try:
                parsed = strict_loads(body)
            except Ambiguous as exc:
                raise Unreadable(f"body: {exc}") from None
            return price(parsed)
    if any(verb == method and pattern.fullmatch(normal) for verb, pattern in profile.harmless):
        return None
    raise Unlisted(f"{method} {path} is neither an order the guard can price nor a write known to place none")


def overridden(headers: Any) -> Refusal | None:
    """A method-override header makes a request's method a matter of which server reads it: refused."""
    for name in METHOD_OVERRIDES:
        if name in headers:
            return Refusal("method_override", {"detail": f"{name}: a server may run this request as another method"})
    return None


def unlisted_feed(exchange: str, path: str) -> Refusal | None:
    """The guard reads no WebSocket message: a socket other than the exchange's known feeds (which take only
    subscriptions) could carry orders it never sees, so it is refused."""
    profile = PROFILES.get(exchange)
    if profile is not None and server_path(path) in profile.websocket.paths:
        return None
    return Refusal(
        "unlisted_feed", {"detail": f"a WebSocket to {path} is not a feed the guard knows carries no orders"}
    )


class SpendingGuard:
    """Per-order and per-session caps, summed over both exchanges."""

    def __init__(self, max_order_usd: Decimal, max_session_usd: Decimal) -> None:
        self.max_order = max_order_usd
        self.max_session = max_session_usd
        self.spent = Decimal(0)

    def check(self, exchange: str, method: str, path: str, body: bytes) -> Refusal | None:
        """None to let the request through (and count it); a Refusal otherwise."""
        try:
            amounts = order_amounts(exchange, method, path, body)
        except Unlisted as exc:
            return Refusal("unlisted_write", {"detail": str(exc)})
        except Unreadable as exc:
            return Refusal("unreadable_order", {"detail": f"cannot price {method} {path}: {exc}"})
        if amounts is None:
            return None
        for amount in amounts:
            if amount > self.max_order:
                return Refusal("max_order_usd", {"cap": str(self.max_order), "amount": str(amount)})
        total = sum(amounts, Decimal(0))
        if self.spent + total > self.max_session:
            return Refusal(
                "max_session_usd",
                {
                    "cap": str(self.max_session),
                    "amount": str(total),
                    "session_spent": str(self.spent),
                },
            )
        self.spent += total
        return None


def guard_addons(upstreams: dict[str, Upstream], guard: SpendingGuard | None, counts: Any) -> list[Any]:
    """The spending guard applies whenever an upstream is a real exchange."""
    if guard is not None and any(u.live for u in upstreams.values()):
        return [GuardAddon(guard, counts)]
    return []


class GuardAddon:
    """Refuses, before anything is forwarded, orders over the caps of a live session."""

    def __init__(self, guard: SpendingGuard, counts: Any) -> None:
        self.guard = guard
        self.counts = counts

    async def request(self, flow: Flow) -> None:
        # the override first: a request refused for it must not count against the session
        refusal = (
            overridden(flow.headers)
            or (unlisted_feed(flow.exchange, flow.path) if flow.upgrade else None)
            or self.guard.check(flow.exchange, flow.method, flow.path, flow.body)
        )
        if refusal is not None:
            self.counts["refused"] += 1
            flow.failure = Failure(SPENDING_GUARD, 403, {"reason": refusal.reason, **refusal.detail})

    def status(self) -> dict[str, Any]:
        return {
            "guard": {
                "max_order_usd": str(self.guard.max_order),
                "max_session_usd": str(self.guard.max_session),
                "session_spent_usd": str(self.guard.spent),
            }
        }
