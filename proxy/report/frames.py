"""WebSocket frames as report entries: every recorded message of every connection, on the session clock.

A handshake fixture names its frames file (`websocket.frames`); each line becomes an entry with its own seq and
time, so frames interleave with the REST fixtures exactly as recorded. What the frames mean (books, fills, trade
statuses) is read by feeds.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from proxy.report.feeds import FeedReader
from proxy.report.inputs import Entry, EntryReader, Read, Session
from proxy.tape.frames import frames_file_of, read_frames
from proxy.tools.timeline import message_label


def frame_item(line: dict[str, Any]) -> dict[str, str]:
    """What the list shows of a message: its direction and type, and the start of its text."""
    arrow = "→" if line["from"] == "client" else "←"
    text = line.get("text")
    return {
        "label": f"WS {arrow} {message_label(line)}",
        "status": line["kind"] if line["kind"] not in ("text", "binary") else "",
        "summary": text[:120] + ("…" if len(text) > 120 else "") if isinstance(text, str) else "",
    }


class FramesInput:
    kind = "frame"

    def read(self, directory: Path, fixtures: list[tuple[Path, dict[str, Any]]]) -> Read:
        """The messages of every connection a handshake fixture of `directory` names (FixtureError if unreadable)."""
        read = Read()
        for path, fixture in fixtures:
            name = frames_file_of(fixture)
            if name is None:
                continue
            frames = read_frames(path.parent / name)
            where = {"handshake": path.name, "path": urlsplit(fixture["request"]["url"]).path}
            for line in frames.frames:
                read.entries.append(Entry("frame", name, line["seq"], line["t"], fixture["exchange"], line, where))
            if frames.torn:
                read.warnings.append(f"{directory.name}/{name}: last line cut short ({frames.torn} bytes): skipped")
        return read

    def reader(self, session: Session) -> EntryReader:
        return FeedReader(session).read
