"""Scrubbing by value leaves no byte of a known credential on the disk: occurrences that overlap or touch are
replaced as one, an escape a credential holds itself matches in either case, a credential whose bytes are not
UTF-8 is found as a fixture prints it, and one sent back as a JSON number, or spelled across a body's JSON, never
reaches a fixture or a frames line."""

from __future__ import annotations

import collections
import re
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.engine.flow import Flow
from proxy.record.frames import payload_record
from proxy.record.recorder import Recorder
from proxy.record.session import Session
from proxy.tape.capture_filter import build_filter
from proxy.tape.journal import JOURNAL
from proxy.tape.secrets import REDACTED, Credentials, json_escaped
from proxy.tape.stored import redacted_from, settle_journal
from proxy.tools.fsck import check_session, write_manifest
from proxy.wire.answers import Answer
from proxy.wire.websocket import EXCHANGE, Message
from tests.proxy_helpers import killed

HEAD = "key-AAAA+/BBBB"  # its tail "+/BBBB" is TAIL's head
TAIL = "+/BBBB-secret+/x"
BOTH = "key-AAAA+/BBBB-secret+/x"  # HEAD and TAIL overlapping, as a text may hold them


def lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), text)


def knowing(*values: str) -> Credentials:
    creds = Credentials()
    creds.learn(values)
    return creds


def flow(body: bytes, answer: bytes, headers: dict[str, str], target: str = "/p/fills") -> Flow:
    sent = CIMultiDict({"Host": "x", "Content-Type": "application/json", **headers})
    f = Flow("kalshi", "POST", target.split("?")[0], target, CIMultiDictProxy(sent), body, "http://up", 1.78e9, 0.0)
    f.response = Answer(200, CIMultiDict({"Content-Type": "application/json"}), answer)
    f.latency_ms = 1.5
    return f


def recorded(tmp_path: Path, flows: list[Flow]) -> tuple[bytes, list[bytes], Recorder]:
    """(the journal before close, the fixture files and manifest after it, the recorder)."""
    session = Session(tmp_path / "s", {"session": "s"})
    recorder = Recorder(session, build_filter("all"), collections.Counter())
    for f in flows:
        recorder.done(f)
    journal = (tmp_path / "s" / JOURNAL).read_bytes()
    recorder.close()
    return journal, [p.read_bytes() for p in sorted((tmp_path / "s").iterdir())], recorder


@pytest.mark.parametrize(
    "spell",
    [str, lambda v: quote(v, safe=""), lambda v: lower_hex(quote(v, safe="")), quote, json_escaped],
    ids=["raw", "quote", "quote-lower-hex", "quote-keeping-slash", "json"],
)
def test_overlapping_credentials_are_replaced_as_one_in_every_spelling(spell):
    """Replacing HEAD first would leave TAIL's rest ("-secret+/x") on the disk."""
    assert spell(BOTH).startswith(spell(HEAD)) and spell(BOTH).endswith(spell(TAIL))
    creds = knowing(HEAD, TAIL)
    assert creds.scrub(f"a={spell(BOTH)}&b=1") == f"a={REDACTED}&b=1"
    assert creds.scrub(f"{spell(HEAD)}{spell(TAIL)} {spell(HEAD)}") == f"{REDACTED} {REDACTED}"  # touching: one


def test_a_credential_overlapping_itself_is_replaced_whole():
    assert knowing("abababab").scrub("x-ababababab-y") == f"x-{REDACTED}-y"


CRED = st.text("ab", min_size=8, max_size=10)


@settings(max_examples=300, deadline=None)
@given(CRED, CRED, st.integers(0, 9), st.text("abx", max_size=6), st.text("abx", max_size=6))
def test_every_character_of_every_occurrence_is_scrubbed(first, second, overlap, before, after):
    """Two credentials, the second made to start with the first's last `overlap` characters, in one text: the
    scrubbed text is the text with each maximal run of characters inside some occurrence replaced once."""
    overlap = min(overlap, len(first) - 1)
    second = (first[len(first) - overlap :] + second)[: max(len(second), overlap + 1)]
    text = before + first + second[overlap:] + after
    covered = [False] * len(text)
    for value in {first, second} if len(second) >= 8 else {first}:
        for start in range(len(text)):
            if text.startswith(value, start):
                covered[start : start + len(value)] = [True] * len(value)
    runs = re.sub(r"1+", "R", "".join("1" if c else "0" for c in covered))
    expected, kept = [], iter(c for c, hit in zip(text, covered, strict=True) if not hit)
    expected = "".join(REDACTED if mark == "R" else next(kept) for mark in runs)
    assert knowing(first, second).scrub(text) == expected


def test_a_credential_holding_a_lower_case_escape_is_found_with_it_upper_cased():
    """A credential that holds `%2f` as it is reads the same as one holding `%2F` to any server decoding it (and
    an HTTP library may normalise the case): that spelling is the credential too."""
    creds = knowing("ab%2fcd-0123456789")
    for text in ("ab%2Fcd-0123456789", "ab%2fcd-0123456789", "ab%252fcd-0123456789"):
        assert creds.found_in(text) and creds.found_in(text.encode()), text
        assert creds.scrub(f"q={text}&r=%2f") == f"q={REDACTED}&r=%2f"


def test_a_credential_holding_a_lower_case_escape_never_reaches_the_disk_upper_cased(tmp_path):
    key = "tok%2fen-0123456789"
    upper = "tok%2Fen-0123456789"
    journal, files, _ = recorded(
        tmp_path, [flow(b"", b'{"next": "/p/fills?c=%s"}' % upper.encode(), {"X-Api-Key": key}, f"/p/fills?c={upper}")]
    )
    for data in (journal, *files):
        assert key.encode() not in data.lower(), data


UNDECODABLE = "tok\udcffen-0123456789"  # a header value whose bytes were not UTF-8 (kept as a surrogate)
PRINTED = "tok\\xffen-0123456789"  # how a fixture's header, or an error message quoting it, spells it


def test_a_credential_whose_bytes_are_not_utf8_is_found_as_a_fixture_prints_it():
    creds = knowing(UNDECODABLE)
    for text in (PRINTED, json_escaped(PRINTED), quote(PRINTED)):
        assert creds.found_in(text) and creds.found_in(text.encode()), text
        assert creds.scrub(f"bad key '{text}'") == f"bad key '{REDACTED}'"


def test_a_credential_whose_bytes_are_not_utf8_never_reaches_the_disk_where_a_header_or_body_echoes_it(tmp_path):
    answer = orjson.dumps({"error": f"invalid key '{PRINTED}'"})
    sent = flow(b"", answer, {"X-Api-Key": UNDECODABLE, "X-Client": UNDECODABLE})
    sent.response = Answer(401, CIMultiDict({"Content-Type": "application/json", "X-Seen": UNDECODABLE}), answer)
    journal, files, _ = recorded(tmp_path, [sent])
    for data in (journal, *files):
        assert b"tok" not in data, data
    fixture = orjson.loads(files[0])
    assert fixture["request"]["headers"]["x-client"] == REDACTED
    assert fixture["response"]["headers"]["x-seen"] == REDACTED
    assert fixture["response"]["body_parsed"] == {"error": f"invalid key '{REDACTED}'"}


NUMERIC = "1234567890123"  # an API key of digits alone


def test_a_credential_sent_back_as_a_json_number_never_reaches_the_disk(tmp_path):
    body = b'{"user": %s, "note": "x"}' % NUMERIC.encode()
    answer = b'{"id": %s, "token_id": "7", "n": 5}' % NUMERIC.encode()
    journal, files, recorder = recorded(tmp_path, [flow(body, answer, {"X-Api-Key": NUMERIC})])
    for data in (journal, *files):
        assert NUMERIC.encode() not in data, data
    fixture = orjson.loads(files[0])
    assert fixture["request"]["body"] == {"user": REDACTED, "note": "x"}
    assert fixture["response"]["body_parsed"] == {"id": REDACTED, "token_id": "7", "n": 5}
    assert recorder.counts["captured"] == 1


ACROSS = 'ab":"cd-0123'  # a credential that a JSON text can hold across a key and its value


def test_a_credential_spelled_across_a_bodys_json_is_not_recorded(tmp_path):
    """In no one string of the parsed body, so nothing can be replaced: the fixture is not written (counted and
    logged as a capture that failed), rather than written holding it."""
    answer = b'{"xab":"cd-0123y"}'
    journal, files, recorder = recorded(tmp_path, [flow(b"", answer, {"X-Api-Key": ACROSS})])
    for data in (journal, *files):
        assert ACROSS.encode() not in data, data
    assert recorder.counts["capture_failed"] == 1 and recorder.counts["captured"] == 0


def test_a_message_spelling_a_credential_across_its_json_or_as_a_number_is_not_recorded_as_it_came():
    creds = knowing(ACROSS, NUMERIC)
    across = payload_record(Message(EXCHANGE, "text", b'{"xab":"cd-0123y"}'), {}, creds)
    assert across.keys() == {"omitted"}
    number = payload_record(Message(EXCHANGE, "text", b'{"id":%s}' % NUMERIC.encode()), {}, creds)
    assert number == {"text": orjson.dumps({"id": REDACTED}).decode()}


LATER = "cookie-session-0123456789"  # handed out in a body under a harmless name, sent back later as a credential


def test_a_credential_learned_after_a_fixture_was_recorded_is_scrubbed_when_its_file_is_written(tmp_path):
    """The first answer hands out a session id under a name that says nothing; the next request sends it back as
    a cookie. The journal record of the first keeps it until close, but its file is written scrubbed (off the
    request path), and so is its manifest entry."""
    first = flow(b"", b'{"session_id": "%s"}' % LATER.encode(), {}, f"/p/login?id={LATER}")
    later = flow(b"", b"{}", {"Cookie": f"sid={LATER}"})
    _, files, _ = recorded(tmp_path, [first, later])
    for data in files:
        assert LATER.encode() not in data, data
    fixture = orjson.loads(files[0])
    assert fixture["response"]["body_parsed"] == {"session_id": REDACTED}
    assert fixture["request"]["url"] == f"http://up/p/login?id={REDACTED}"


def test_a_credential_learned_later_that_cannot_be_scrubbed_from_a_file_is_named_in_the_log(tmp_path, caplog):
    first = flow(b"", b'{"xab":"cd-0123y"}', {})
    later = flow(b"", b"{}", {"X-Api-Key": ACROSS})
    with caplog.at_level("ERROR", logger="tradetape.record"):
        recorded(tmp_path, [first, later])
    assert "fixture 1 holds a credential learned after it was recorded" in caplog.text
    assert ACROSS not in caplog.text


def test_a_capture_that_fails_logs_its_url_without_the_sessions_credentials(tmp_path, caplog):
    sent = flow(b"", b'{"xab":"cd-0123y"}', {"X-Api-Key": ACROSS}, f"/p/keys/{quote(ACROSS)}")
    with caplog.at_level("ERROR", logger="tradetape.record"):
        _, _, recorder = recorded(tmp_path, [sent])
    assert recorder.counts["capture_failed"] == 1
    assert "could not write the fixture for POST http://up/p/keys/[REDACTED]" in caplog.text
    assert quote(ACROSS) not in caplog.text


def killed_after_both_files(tmp_path: Path) -> Path:
    """The LATER session of the test above, killed once both fixture files were written (the journal left)."""
    session = Session(tmp_path / "s", {"session": "s"})
    recorder = Recorder(session, build_filter("all"), collections.Counter())
    recorder.done(flow(b"", b'{"session_id": "%s"}' % LATER.encode(), {}, f"/p/login?id={LATER}"))
    recorder.done(flow(b"", b"{}", {"Cookie": f"sid={LATER}"}))
    while session.pending:
        session.materialise_one()
    killed(session)
    return tmp_path / "s"


def test_a_file_scrubbed_of_a_credential_learned_later_stays_scrubbed_when_a_killed_sessions_journal_is_settled(
    tmp_path,
):
    """fsck (and `record --append`) writes each journal record whose file differs from it: the file scrubbed of
    a credential learned later differs only where it says [REDACTED], and is kept, not overwritten with the
    journal's copy (fsck knows no credential)."""
    directory = killed_after_both_files(tmp_path)
    assert settle_journal(directory) == ([], 0)
    assert not (directory / JOURNAL).exists()
    for path in directory.iterdir():
        assert LATER.encode() not in path.read_bytes(), path.name


def test_fsck_of_a_killed_session_keeps_a_file_scrubbed_of_a_credential_learned_later(tmp_path):
    directory = killed_after_both_files(tmp_path)
    fixtures, problems, _ = check_session(directory)
    assert problems == [] and len(fixtures) == 2
    write_manifest(directory, fixtures)
    for path in directory.iterdir():
        assert LATER.encode() not in path.read_bytes(), path.name


@pytest.mark.parametrize(
    ("file", "kept"),
    [
        (b'{"a": "x-secret-1-y", "n": 1}', True),
        (b'{"a": "x-[REDACTED]-y", "n": 1}', True),
        (b'{"a": "[REDACTED]", "n": "[REDACTED]"}', True),
        (b'{"a": "x-[REDACTED]-y", "n": 2}', False),  # differs elsewhere: the journal's copy is the truth
        (b'{"a": "x-secret-1-y[REDACTED]", "n": 1}', False),  # replaces nothing
        (b'{"a": "x-other-1-y", "n": 1}', False),
    ],
)
def test_a_file_is_kept_beside_its_journal_record_only_as_it_or_scrubbed_of_pieces_of_it(file, kept):
    assert redacted_from(file, b'{"a": "x-secret-1-y", "n": 1}') is kept


def test_a_websocket_handshake_refused_for_a_credential_leaves_no_frames_file(tmp_path):
    """The frames file is opened before the handshake's fixture is written: refused, it would be a frames file no
    fixture names (fsck reports one as damage), the next fixture taking its seq."""
    sent = flow(b"", b'{"xab":"cd-0123y"}', {"X-Api-Key": ACROSS})
    sent.upgrade = True
    sent.response = Answer(101, CIMultiDict({"Content-Type": "application/json"}), b'{"xab":"cd-0123y"}')
    _, _, recorder = recorded(tmp_path, [sent, flow(b"", b"{}", {})])
    assert recorder.counts["capture_failed"] == 1
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["001_POST_kalshi_fills.json", "manifest.json"]


def test_a_credential_holding_an_escape_is_found_percent_encoded_with_that_escape_in_either_case():
    """Its twin with `%2F` is the credential too (above): percent-encoded, that twin reads `%252F`."""
    creds = knowing("ab%2fcd-0123456789")
    for text in ("ab%252Fcd-0123456789", "ab%252fcd-0123456789", quote("ab%2Fcd-0123456789", safe="")):
        assert creds.found_in(text) and creds.found_in(text.encode()), text
        assert creds.scrub(f"q={text}&r=%252f") == f"q={REDACTED}&r=%252f"
    assert creds.scrub("ab%252Ecd-0123456789") == "ab%252Ecd-0123456789"  # another escape: not the credential


SLASHED = "cookie/session-0123456789"  # a credential holding '/', which a JSON encoder may write as "\/"


def killed_after_a_body_was_replaced_whole(tmp_path: Path) -> tuple[Path, bytes]:
    """As killed_after_both_files, the first answer's body (spaced, and escaping '/' as "\\/": no text replacement
    sees the credential there) replaced whole by its scrubbed parse when its file was written; and that file."""
    session = Session(tmp_path / "s", {"session": "s"})
    recorder = Recorder(session, build_filter("all"), collections.Counter())
    escaped = SLASHED.replace("/", "\\/").encode()
    recorder.done(flow(b"", b'{"note": "id %s ok", "n": 1}' % escaped, {}, "/p/login"))
    recorder.done(flow(b"", b"{}", {"Cookie": f"sid={SLASHED}"}))
    while session.pending:
        session.materialise_one()
    killed(session)
    written = (tmp_path / "s" / "001_POST_kalshi_login.json").read_bytes()
    assert orjson.loads(written)["response"]["body_raw"] == orjson.dumps({"note": f"id {REDACTED} ok", "n": 1}).decode()
    return tmp_path / "s", written


def test_a_file_whose_body_was_replaced_whole_by_its_scrubbed_parse_stays_scrubbed_when_the_journal_is_settled(
    tmp_path,
):
    directory, written = killed_after_a_body_was_replaced_whole(tmp_path)
    assert settle_journal(directory) == ([], 0)
    assert (directory / "001_POST_kalshi_login.json").read_bytes() == written
    for path in directory.iterdir():
        assert b"0123456789" not in path.read_bytes(), path.name


RECORD = {
    "seq": 1,
    "response": {"body_raw": '{"a": "x-secret\\/1-y", "n": 1}', "body_parsed": {"a": "x-secret/1-y", "n": 1}},
}


@pytest.mark.parametrize(
    ("raw", "parsed", "kept"),
    [
        ('{"a":"x-[REDACTED]-y","n":1}', {"a": "x-[REDACTED]-y", "n": 1}, True),
        ('{"a":"[REDACTED]","n":1}', {"a": "[REDACTED]", "n": 1}, True),
        ('{"a":"x-[REDACTED]-y","n":2}', {"a": "x-[REDACTED]-y", "n": 1}, False),  # not its parse: holds more
        ('{"a":"x-[REDACTED]-y","n":2}', {"a": "x-[REDACTED]-y", "n": 2}, False),  # its parse holds more
        ('{"a":"x-[REDACTED]-y", "n":1}', {"a": "x-[REDACTED]-y", "n": 1}, False),  # not as the scrub writes it
    ],
)
def test_a_files_body_is_kept_replaced_whole_only_by_its_parse_holding_pieces_of_the_records(raw, parsed, kept):
    file = {"seq": 1, "response": {"body_raw": raw, "body_parsed": parsed}}
    indent = orjson.OPT_INDENT_2
    assert redacted_from(orjson.dumps(file, option=indent), orjson.dumps(RECORD, option=indent)) is kept
