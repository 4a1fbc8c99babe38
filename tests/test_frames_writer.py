"""The frames writer's short path (a text message with nothing to redact, built without a dict) writes what the
general path writes, and the secret-hint check it relies on still sees a secret name however it is spelled."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from proxy.record.frames import FramesWriter, frame_line, plain_text_line
from proxy.record.session import Session
from proxy.tape.frames import read_frames
from proxy.tape.secrets import Credentials, may_name_secrets
from proxy.wire.websocket import CLIENT, EXCHANGE, Message

TEXTS = [
    '{"type":"orderbook_delta","sid":1,"seq":4,"msg":{"market_ticker":"KXBTC-26","price_dollars":"0.5200"}}',
    'quote " backslash \\ newline \n tab \t control \x01 slash /',
    "ünïcödé ✓ \u2028 \U0001f600",
    "",
]


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    session = Session(tmp_path / "s", {"session": "s"})
    yield session
    session.close()


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("sender", [CLIENT, EXCHANGE])
def test_a_plain_text_line_is_the_line_the_general_path_writes(text, sender):
    message = Message(sender, "text", text.encode())
    short = plain_text_line(7, b"1795637700.123456", sender, message.data)
    general = orjson.dumps(frame_line(7, b"1795637700.123456", message, {}, Credentials()))
    assert short is not None and short.endswith(b"\n")
    assert orjson.loads(short) == orjson.loads(general)
    assert list(orjson.loads(short)) == ["seq", "t", "from", "kind", "text"]


def test_a_text_payload_that_is_not_utf8_has_no_short_line_and_is_written_as_base64(session):
    assert plain_text_line(1, b"1.000000", EXCHANGE, b"\x80abc") is None
    writer = FramesWriter(session, "x.frames.jsonl", Credentials())
    writer.write([Message(EXCHANGE, "text", b"\x80abc")], 1795637700.0)
    writer.close()
    (line,) = read_frames(session.directory / "x.frames.jsonl").frames
    assert (line["kind"], line["base64"]) == ("text", "gGFiYw==")


def test_a_batch_takes_consecutive_seqs_in_one_line_each_with_the_time_to_the_microsecond(session):
    before = session.last_seq
    writer = FramesWriter(session, "x.frames.jsonl", Credentials())
    batch = [Message(EXCHANGE, "text", b'{"a":1}'), Message(EXCHANGE, "ping", b"hb"), Message(EXCHANGE, "drop")]
    writer.write(batch, 1795637700.1234567)
    writer.close()
    lines = read_frames(session.directory / "x.frames.jsonl").frames
    assert [line["seq"] for line in lines] == [before + 1, before + 2, before + 3] and session.last_seq == before + 3
    assert [line["kind"] for line in lines] == ["text", "ping", "drop"]
    assert {line["t"] for line in lines} == {1795637700.123457}


def test_the_short_path_is_not_taken_when_a_field_is_secret_named(session):
    writer = FramesWriter(session, "x.frames.jsonl", Credentials())
    writer.write([Message(EXCHANGE, "text", b'{"type":"user","Api-Key":"k-9f8e7d6c5b4a"}')], 1795637700.0)
    writer.close()
    (line,) = read_frames(session.directory / "x.frames.jsonl").frames
    assert orjson.loads(line["text"]) == {"type": "user", "Api-Key": "[REDACTED]"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"OWNER":"x"}',
        b'{"Api-Key":"x"}',
        b'{"pass_Word":"x"}',
        b'{"x_ACCESS-KEY":"x"}',
        b'{"sec_ret":"x"}',
        b'{"\\u0074oken":"x"}',  # a key written with JSON escapes
        '{"ſecret":"x"}'.encode(),  # not ASCII: folded by NFKC further on, so always looked at
        b"token=abc",
    ],
)
def test_a_secret_name_is_hinted_whatever_its_case_separators_or_escapes(body):
    assert may_name_secrets(body)


def test_a_market_message_with_no_secret_name_is_not_hinted():
    assert not may_name_secrets(TEXTS[0].encode())


@pytest.mark.parametrize(
    "payload",
    [
        rb'{"note":"abc\/defgh12345"}',  # "/" written as the escape JSON allows (orjson never writes it)
        rb'{"note":"\u0061bc/defgh12345"}',  # a letter written as \u: no secret name, so no hint either
        rb'{"note":"abc/defgh\u0031\u0032345"}',
    ],
)
def test_a_credential_spelled_with_json_escapes_is_scrubbed_from_a_frame(session, payload):
    """The by-value check looks at what a JSON reader of the line will see, not only at the bytes as they came."""
    creds = Credentials()
    creds.learn(["abc/defgh12345"])
    writer = FramesWriter(session, "x.frames.jsonl", creds)
    writer.write([Message(EXCHANGE, "text", payload)], 1795637700.0)
    writer.close()
    (line,) = read_frames(session.directory / "x.frames.jsonl").frames
    assert orjson.loads(line["text"]) == {"note": "[REDACTED]"}


def test_the_clients_own_secret_echoed_with_json_escapes_is_redacted(session):
    """Polymarket's user channel names the subscribing key again; an escape must not carry it past redaction."""
    writer = FramesWriter(session, "x.frames.jsonl", Credentials())
    subscribe = b'{"auth":{"apiKey":"k-1/2","secret":"s3cr3t/value/x","passphrase":"p"},"type":"user"}'
    echo = rb'{"event_type":"order","maker":"k-1\/2","note":"s3cr3t\/value\/x"}'
    writer.write([Message(CLIENT, "text", subscribe), Message(EXCHANGE, "text", echo)], 1795637700.0)
    writer.close()
    sent, got = read_frames(session.directory / "x.frames.jsonl").frames
    assert set(orjson.loads(sent["text"])["auth"].values()) == {"[REDACTED]"}
    assert orjson.loads(got["text"]) == {"event_type": "order", "maker": "[REDACTED]", "note": "[REDACTED]"}


@pytest.mark.parametrize(
    "text",
    [
        b"Authorization: Bearer eyJhbGciOi.x7Q9",
        b"api_key[0]=eyJhbGciOi.x7Q9",  # a form a server reads a secret parameter in (secrets.is_secret_param)
        b"a=1&auth[token]=eyJhbGciOi.x7Q9",
        b"api[key]=eyJhbGciOi.x7Q9",
        b"a=1&%61pi_key=eyJhbGciOi.x7Q9",
    ],
)
def test_a_text_message_assigning_a_secret_ish_name_is_not_recorded(session, text):
    """Every name the text rule (secrets.assigns_secret) refuses is a hint, or the message holds a '%', so the short
    path never writes it."""
    writer = FramesWriter(session, "x.frames.jsonl", Credentials())
    writer.write([Message(CLIENT, "text", text)], 1795637700.0)
    writer.close()
    (line,) = read_frames(session.directory / "x.frames.jsonl").frames
    assert "text" not in line and "assigns a secret-ish name" in line["omitted"]


@pytest.mark.parametrize("data", [b"{\x00%\x10=1", b"[50%] done & more=2"])
def test_a_message_with_a_percent_sign_that_names_no_secret_is_recorded_as_it_came(session, data):
    """A '%' only sends a message the full way when a percent-encoded name may be secret: one that only starts
    like JSON is not taken for broken JSON and omitted."""
    writer = FramesWriter(session, "x.frames.jsonl", Credentials())
    writer.write([Message(EXCHANGE, "binary", data)], 1795637700.0)
    writer.close()
    (line,) = read_frames(session.directory / "x.frames.jsonl").frames
    assert "omitted" not in line and (line.get("text") or base64.b64decode(line["base64"]).decode("latin-1")) == (
        data.decode("latin-1")
    )


@pytest.mark.parametrize(
    "subscribe, pointer",
    [
        (b'{"auth":"k-9f8e:s3cr3t-value-x:pass-phrase","type":"user"}', "/auth"),
        (b'{"type":"user","AUTH":["k-9f8e","s3cr3t-value-x","pass-phrase"]}', "/AUTH"),
        (b'{"type":"user","sub":{"auth":"s3cr3t-value-x"}}', "/sub/auth"),
    ],
)
def test_an_auth_field_that_is_no_object_of_named_credentials_is_not_recorded(session, subscribe, pointer):
    """Which part of `"auth": "key:secret:pass"` is secret has no name: the message is omitted, saying where."""
    writer = FramesWriter(session, "x.frames.jsonl", Credentials())
    writer.write([Message(CLIENT, "text", subscribe)], 1795637700.0)
    writer.close()
    (line,) = read_frames(session.directory / "x.frames.jsonl").frames
    assert "text" not in line and f"{pointer} is an auth field but no object" in line["omitted"]
    assert b"s3cr3t" not in (session.directory / "x.frames.jsonl").read_bytes()


def test_an_auth_object_and_an_empty_auth_are_recorded_as_ever(session):
    writer = FramesWriter(session, "x.frames.jsonl", Credentials())
    messages = [b'{"auth":{"apiKey":"k-9f8e7d6c"},"type":"user"}', b'{"auth":null,"type":"market"}', b'{"auth":""}']
    writer.write([Message(CLIENT, "text", m) for m in messages], 1795637700.0)
    writer.close()
    lines = read_frames(session.directory / "x.frames.jsonl").frames
    assert [orjson.loads(line["text"]) for line in lines] == [
        {"auth": {"apiKey": "[REDACTED]"}, "type": "user"},
        {"auth": None, "type": "market"},
        {"auth": ""},
    ]


def test_a_wall_clock_stepped_back_between_two_reads_never_makes_a_time_go_back_in_the_file(session):
    writer = FramesWriter(session, "x.frames.jsonl", Credentials())
    writer.write([Message(EXCHANGE, "text", b'{"a":1}')], 1795637700.5)
    writer.write([Message(EXCHANGE, "text", b'{"a":2}')], 1795637640.25)  # NTP stepped the clock back a minute
    writer.write([Message(EXCHANGE, "text", b'{"a":3}')], 1795637700.75)
    writer.close()
    lines = read_frames(session.directory / "x.frames.jsonl").frames  # the loader refuses a time that goes back
    assert [line["t"] for line in lines] == [1795637700.5, 1795637700.5, 1795637700.75]
