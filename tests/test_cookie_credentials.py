"""A session cookie the upstream hands out in `Set-Cookie` is a credential of the session: learned (its value only,
never its attributes), it is scrubbed wherever it is echoed later, in a fixture or a frames line."""

from __future__ import annotations

import collections
from pathlib import Path

import orjson
from multidict import CIMultiDict

from proxy.engine.flow import Flow
from proxy.record.frames import payload_record
from proxy.record.recorder import Recorder
from proxy.record.session import Session
from proxy.tape.capture_filter import build_filter
from proxy.tape.journal import JOURNAL
from proxy.tape.secrets import REDACTED, Credentials
from proxy.wire.answers import Answer
from proxy.wire.websocket import EXCHANGE, Message
from tests.test_credential_spans import flow

SESSION = "sess-0123456789abcdef"
ATTRIBUTES = (
    "Path=/trade-api/v2; Domain=.elections.kalshi.com; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Max-Age=31536000; "
    "SameSite=Strict; Secure; HttpOnly"
)


def handing_out(*cookies: str, target: str = "/p/login") -> Flow:
    """A login whose answer sets `cookies` and says nothing secret in its body."""
    sent = flow(b"", b'{"ok": true}', {}, target)
    headers = CIMultiDict({"Content-Type": "application/json"})
    for cookie in cookies:
        headers.add("Set-Cookie", cookie)
    sent.response = Answer(200, headers, b'{"ok": true}')
    return sent


def echoing(value: str) -> Flow:
    """A later exchange that names `value` in its URL and in its answer's body, under harmless names."""
    return flow(b"", orjson.dumps({"note": f"session {value} active"}), {}, f"/p/fills?s={value}")


def recorded(tmp_path: Path, flows: list[Flow], capture: str = "all") -> tuple[list[bytes], Recorder]:
    """(the journal before close and every file after it, the recorder)."""
    session = Session(tmp_path / "s", {"session": "s"})
    recorder = Recorder(session, build_filter(capture), collections.Counter())
    for f in flows:
        recorder.done(f)
    journal = (tmp_path / "s" / JOURNAL).read_bytes()
    recorder.close()
    return [journal, *(p.read_bytes() for p in sorted((tmp_path / "s").iterdir()))], recorder


def test_a_cookie_the_upstream_sets_is_learned_and_scrubbed_where_a_later_fixture_echoes_it(tmp_path):
    stored, recorder = recorded(tmp_path, [handing_out(f"sid={SESSION}; {ATTRIBUTES}"), echoing(SESSION)])
    for data in stored:
        assert SESSION.encode() not in data, data
    assert recorder.credentials.values == {SESSION}  # none of its attributes
    login, fills = (orjson.loads(data) for data in stored[1:3])
    assert login["response"]["headers"]["set-cookie"] == REDACTED  # by name, whole, as the README says
    assert fills["request"]["url"] == f"http://up/p/fills?s={REDACTED}"
    assert fills["response"]["body_parsed"] == {"note": f"session {REDACTED} active"}


def test_a_cookie_set_by_an_answer_the_filter_skips_is_learned_too(tmp_path):
    stored, recorder = recorded(tmp_path, [handing_out(f"sid={SESSION}; {ATTRIBUTES}"), echoing(SESSION)], "fills")
    assert recorder.counts["captured"] == 1
    for data in stored:
        assert SESSION.encode() not in data, data
    assert recorder.credentials.values == {SESSION}


def test_every_cookie_of_an_answer_is_learned_by_its_value_alone_and_a_short_one_by_name_only(tmp_path):
    other = "other-value-0123456789"
    cookies = (f"sid={SESSION}; Path=/", f'csrf="{other}"; Path=/; Secure', "lang=en-GB-x; Max-Age=86400000")
    stored, recorder = recorded(tmp_path, [handing_out(*cookies), echoing(f"{SESSION}-{other}-lang=en-GB-x")])
    assert recorder.credentials.values == {SESSION, other}  # "en-GB-x" is shorter than a credential can be
    fills = orjson.loads(stored[2])
    assert fills["request"]["url"] == f"http://up/p/fills?s={REDACTED}-{REDACTED}-lang=en-GB-x"


def test_a_cookie_set_on_a_websocket_handshake_is_scrubbed_from_the_messages_after_it(tmp_path):
    handshake = handing_out(f"sid={SESSION}; {ATTRIBUTES}", target="/p/ws")
    handshake.upgrade = True
    handshake.response = Answer(101, handshake.response.headers, b"")
    _, recorder = recorded(tmp_path, [handshake])
    line = payload_record(
        Message(EXCHANGE, "text", f'{{"sid": "x", "note": "{SESSION}"}}'.encode()), {}, recorder.credentials
    )
    assert line == {"text": orjson.dumps({"sid": "x", "note": REDACTED}).decode()}


def test_a_set_cookie_header_among_the_headers_learned_gives_its_value_alone():
    creds = Credentials()
    creds.learn_headers(CIMultiDict({"Set-Cookie": f"sid={SESSION}; {ATTRIBUTES}"}))
    assert creds.values == {SESSION}
