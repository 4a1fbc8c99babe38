"""What the engine decided and why: one `Decision` per opportunity taken or skipped, per arb result, per kill.

Each is a structured log line (one JSON object on the `trader.engine` logger) and a row of the ledger's
`decisions` table, so a run can be read back, and two runs of the same recording compared, decision by decision.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import orjson

# kinds
TAKEN, SKIPPED, WOULD_TAKE, RESULT, KILL, RECOVERY = "taken", "skipped", "would_take", "result", "kill", "recovery"
RESUMED = "resumed"  # a pair not traded (its market refused or unread) is traded again


@dataclass(frozen=True, slots=True)
class Decision:
    """`reason` is a short code (edge, stale, crossed, in_flight, cooldown, exposure_limit, position_limit,
    daily_loss, reconciling, awaiting_book, killed, ...); `detail` the sentence a person reads. Prices are the limits
    of the outcome bought on each exchange; `edge` is net per contract."""

    kind: str
    pair: str | None
    reason: str
    detail: str
    outcome: str | None = None
    count: Decimal | None = None
    kalshi_price: Decimal | None = None
    poly_price: Decimal | None = None
    edge: Decimal | None = None
    arb_id: str | None = None
    at: str | None = None  # when recorded (ISO 8601 UTC, the ledger's clock; a skip's: when made, recorded by the
    # end of that loop turn); set on decisions read back

    def log_line(self) -> str:
        """The decision as one JSON object (Decimals as strings, empty fields left out)."""
        fields: dict[str, Any] = {"event": "decision"}
        fields |= {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items() if v is not None}
        return orjson.dumps(fields).decode()
