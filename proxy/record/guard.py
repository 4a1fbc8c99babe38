"""The spending guard: caps the worst-case loss of orders sent to a live exchange in one session.

Which requests place orders, how each body is priced, and which writes place nothing come from the
exchange profiles (proxy.exchanges). A write (anything but GET/HEAD/OPTIONS) is priced, or on the
profile's list of harmless writes, or refused; an order body is read strictly (strict_json), so a body
servers could read two ways is refused, never priced on one reading. The guard exists for the case
nobody thought of.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus

from proxy.engine.flow import Failure, Flow
from proxy.exchanges import PROFILES
from proxy.exchanges.pricing import Pricer, Unreadable
from proxy.exchanges.profile import ExchangeProfile
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
# The parameter Rails, Laravel, Symfony and Express's method-override read the same way, in a query or form body.
METHOD_PARAM = re.compile(r"[_ .\[]method(?:\[.*)?", re.I | re.S)
# The name of a query or form field (as parse_qsl splits them) spelling `method`, each letter as it is or
# percent-encoded: only those are decoded.
METHOD_NAMES = re.compile(
    r"(?:^|(?<=&))[^&=]*?(?:m|%[46]d)(?:e|%[46]5)(?:t|%[57]4)(?:h|%[46]8)(?:o|%[46]f)(?:d|%[46]4)[^&=]*", re.I
)
FORM = "application/x-www-form-urlencoded"
OWS = " \t"  # HTTP's whitespace around a header's parts (str.strip() drops Unicode spaces a server may not)


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


def priced_by(profile: ExchangeProfile, method: str, normal: str) -> Pricer | None:
    """The pricer of the write `method` at server path `normal`, if it is an order write."""
    return next(
        (price for verb, pattern, price in profile.priced_writes if verb == method and pattern.search(normal)), None
    )


def pricer(exchange: str, method: str, path: str) -> Pricer | None:
    """How the request's body is priced, when it is an order write (a decrease is read too, at no cost)."""
    profile = PROFILES.get(exchange)
    if method in READS or profile is None:
        return None
    return priced_by(profile, method, server_path(path))


def order_amounts(exchange: str, method: str, path: str, body: bytes) -> list[Decimal] | None:
    """Worst-case loss of each order the request places; None when it places none; Unreadable if unsure."""
    profile = PROFILES.get(exchange)
    if method in READS or profile is None:
        return None
    normal = server_path(path)
    price = priced_by(profile, method, normal)
    if price is not None:
        try:
            parsed = strict_loads(body)
        except Ambiguous as exc:
            raise Unreadable(f"body: {exc}") from None
        return price(parsed)
    if any(verb == method and pattern.fullmatch(normal) for verb, pattern in profile.harmless):
        return None
    raise Unlisted(f"{method} {path} is neither an order the guard can price nor a write known to place none")


def json_media_type(value: str) -> bool:
    """`application/json`, with no parameter but `charset=utf-8` (any case): the one reading strict_json has."""
    media, *params = (part.strip(OWS).lower() for part in value.split(";"))
    return media == "application/json" and params in ([], ["charset=utf-8"])


def undeclared_json(exchange: str, method: str, path: str, headers: Any) -> Refusal | None:
    """An order body is read as UTF-8 JSON. Declared as anything else (a form, another charset), a server may read
    it otherwise; declared as nothing, a form binding may read the order from the query. Every official SDK and
    our clients send `application/json`."""
    if pricer(exchange, method, path) is None:
        return None
    values = headers.getall("Content-Type", [])
    if len(values) == 1 and json_media_type(values[0]):
        return None
    shown = ", ".join(repr(value) for value in values) or "missing"
    return Refusal(
        "unreadable_order", {"detail": f"cannot price {method} {path}: Content-Type {shown} is not application/json"}
    )


def names_method(name: str) -> bool:
    """`_method` as a framework may read a parameter name: any case; PHP also reads a leading ' ', '.' or '[' as
    '_' and `_method[]` as `_method`."""
    return METHOD_PARAM.fullmatch(name.lstrip()) is not None


def fields_naming_method(text: str) -> bool:
    """A field of a query or form body whose name a framework reads as `_method`. Only the names spelling `method`
    are decoded: parsing every field of a 16 MB form held the event loop for seconds."""
    if "%" not in text and "method" not in text.lower():
        return False  # the common case, at the speed of a substring search
    return any(names_method(unquote_plus(name[0])) for name in METHOD_NAMES.finditer(text))


def overridden(headers: Any, path_qs: str, body: bytes) -> Refusal | None:
    """A method override (a header, or `_method` in the query or a form body) makes a request's method a matter
    of which server reads it: refused."""
    for name in METHOD_OVERRIDES:
        if name in headers:
            return Refusal("method_override", {"detail": f"{name}: a server may run this request as another method"})
    places = [("query", path_qs.partition("?")[2])]
    if headers.get("Content-Type", "").split(";")[0].strip().lower() == FORM:
        places.append(("form body", body.decode("latin-1")))
    for where, text in places:
        if fields_naming_method(text):
            return Refusal(
                "method_override",
                {"detail": f"_method in the {where}: a server may run this request as another method"},
            )
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
        # the override and the body's type first: a request refused for them must not count against the session
        refusal = (
            overridden(flow.headers, flow.path_qs, flow.body)
            or (unlisted_feed(flow.exchange, flow.path) if flow.upgrade else None)
            or undeclared_json(flow.exchange, flow.method, flow.path, flow.headers)
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
