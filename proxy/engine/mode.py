"""A mode is a named list of addons plus whether requests go upstream: record, passthrough, replay.

Addons are small units with optional hooks (the mitmproxy idea):
  async request(flow)  before forwarding; may set flow.response, flow.failure or flow.drop
  done(flow)           once the answer (or failure) is known, before the client gets it
  status() -> dict     what the admin API reports
  reset()              rewind (POST /__tradetape/reset): a replay serves its recordings again
  close()              at shutdown or when the mode is switched away
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Mode:
    name: str
    forwards: bool
    addons: list[Any] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.request_hooks = [a.request for a in self.addons if hasattr(a, "request")]
        self.done_hooks = [a.done for a in self.addons if hasattr(a, "done")]

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.name, **self.info}
        for addon in self.addons:
            if hasattr(addon, "status"):
                out.update(addon.status())
        return out

    def reset(self) -> bool:
        """Rewind every addon that can; False when none can (nothing to rewind in this mode)."""
        rewinders = [addon for addon in self.addons if hasattr(addon, "reset")]
        for addon in rewinders:
            addon.reset()
        return bool(rewinders)

    def close(self) -> None:
        for addon in self.addons:
            if hasattr(addon, "close"):
                addon.close()


def passthrough_mode(addons: list[Any]) -> Mode:
    """Forward only: no capture work at all (the spending guard's addon when an upstream is live)."""
    return Mode("passthrough", forwards=True, addons=addons)
