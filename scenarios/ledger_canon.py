"""A ledger as two runs of the same scenario can compare it: every row, with what legitimately differs per run
taken out.

What differs: ids the trader makes up (Kalshi client_order_ids, Polymarket order hashes, arb ids: each arb becomes
`arb1`, `arb2`, ... in order of appearance), times (each decision keeps when it was recorded, `at`, for
`tradetape report`, but two ledgers are compared without it), and the skips whose number depends on how frames
and answers interleave (`scenarios.e2e_catalogue.TIMING`). Everything else, including every fill, fee, exposure
row and decision with its prices and edge, must be equal.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from trader.ledger import Ledger


def ledger_file(fixtures_dir: Path, name: str) -> Path:
    """Where a captured scenario's canonical ledger is kept: beside its session directory, not in it (a session
    directory holds fixtures only)."""
    return fixtures_dir / f"{name}.ledger.json"


# skips whose number depends on how updates and arbs interleave
TIMING = ("in_flight", "reconciling", "cooldown", "awaiting_book")
MADE_UP = re.compile(r"0x[0-9a-fA-F]{64}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class _Names:
    """Arb ids to arb1, arb2, ...; any other made-up id in a text to <id>."""

    def __init__(self) -> None:
        self.arbs: dict[str, str] = {}

    def arb(self, arb_id: str | None) -> str | None:
        if arb_id is None:
            return None
        return self.arbs.setdefault(arb_id, f"arb{len(self.arbs) + 1}")

    def text(self, value: str | None) -> str | None:
        if value is None:
            return None
        return MADE_UP.sub(lambda m: self.arbs.get(m.group(0), "<id>"), value)


def _str(value: Any) -> Any:
    return None if value is None else str(value)


def canonical(ledger: Ledger) -> dict[str, list[dict[str, Any]]]:
    """Intents with their fills, exposures and decisions, in order, without what differs per run."""
    names = _Names()
    intents = []
    for intent in ledger.intents():
        leg = intent.leg
        intents.append(
            {
                "arb": names.arb(intent.arb_id),
                "purpose": intent.purpose,
                "leg": leg.describe()
                if leg.exchange == "kalshi"
                else f"poly {leg.instrument} {leg.action} {leg.count}@{leg.price}",
                "state": intent.state,
                "filled": _str(intent.filled),
                "avg_price": _str(intent.avg_price),
                "fees": _str(intent.fees),
                "error": names.text(intent.error),
                "fills": [
                    {
                        "quantity": str(f.quantity),
                        "price": _str(f.price),
                        "fee": _str(f.fee),
                        "source": f.source,
                        "id": f.external_id,
                        "final": f.final,
                    }
                    for f in ledger.fills(intent.key)
                ],
            }
        )
    exposures = [
        {
            "arb": names.arb(r.arb_id),
            "exposure": f"{r.exchange} {r.instrument} {r.outcome or ''} {r.action} {r.quantity}",
            "policy": r.policy,
            "status": r.status,
            "closed_by": names.text(r.closed_by),
        }
        for r in ledger.exposure_records()
    ]
    decisions = [
        {
            "kind": d.kind,
            "pair": d.pair,
            "reason": d.reason,
            "detail": names.text(d.detail),
            "box": f"{d.outcome} {_str(d.count)} @ {_str(d.kalshi_price)} + {_str(d.poly_price)}, edge {_str(d.edge)}",
            "arb": names.arb(d.arb_id),
            "at": d.at,
        }
        for d in ledger.decisions()
        if d.reason not in TIMING
    ]
    return {"intents": intents, "exposures": exposures, "decisions": decisions}


def differences(expected: dict[str, list[Any]], got: dict[str, list[Any]]) -> list[str]:
    """One line per row that differs (or is missing) between two canonical ledgers."""
    lines = []
    for section in ("intents", "exposures", "decisions"):
        want, have = expected.get(section, []), got.get(section, [])
        for i in range(max(len(want), len(have))):
            a = _compared(want[i]) if i < len(want) else "<missing>"
            b = _compared(have[i]) if i < len(have) else "<missing>"
            if a != b:
                lines.append(f"{section}[{i}]: recorded {a}, replayed {b}")
    return lines


def _compared(row: Any) -> Any:
    """A row without its time (`at`: when a decision was recorded, which differs per run)."""
    return {k: v for k, v in row.items() if k != "at"} if isinstance(row, dict) else row
