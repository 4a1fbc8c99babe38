"""Issue 19's cheap record path: a body that provably needs no redaction reaches the journal as it came and is
parsed when its file is written; everything else goes the full way. The files are the same either way, and no
secret reaches the disk, not even the journal before its files are written."""

from __future__ import annotations

import asyncio
import collections
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.cli.main import main
from proxy.engine.flow import Flow
from proxy.record.recorder import Recorder, fixture_record
from proxy.record.session import Session, SessionError
from proxy.tape.capture_filter import build_filter
from proxy.tape.compact import MARK, deferrable, file_bytes, pack, unpack
from proxy.tape.fixture import session_files
from proxy.tape.journal import JOURNAL, MAGIC_V1, JournalFile, read_journal, record_bytes
from proxy.tape.secrets import (
    HINTS,
    REDACTED,
    SECRET_ENDINGS,
    SECRET_NAMES,
    Credentials,
    assigns_secret,
    is_secret_field,
    is_secret_param,
    may_name_secret_params,
    may_name_secrets,
    redact_body,
    redact_url,
    variants,
)
from proxy.tape.stored import settle_journal
from proxy.tools.audit import audit_tree, entries
from proxy.wire.answers import Answer
from tests.proxy_helpers import killed

KEY = "a952bcbe-ec3b-4b5b-b8f9-11dae589608c"
FILLS = orjson.dumps(
    {"cursor": "", "fills": [{"fill_id": f"f{i}", "count_fp": "1.00", "is_taker": True} for i in range(3)]}
)
ORDER = b'{"ticker":"KX-1","client_order_id":"6f1c2e4a","side":"ask","count":"5.00","price":"0.5500"}'


def flow(body: bytes, answer: bytes, headers: dict[str, str] | None = None, target: str = "/p/orders") -> Flow:
    sent = CIMultiDict({"Host": "x", "KALSHI-ACCESS-KEY": KEY, "Content-Type": "application/json", **(headers or {})})
    f = Flow("kalshi", "POST", target.split("?")[0], target, CIMultiDictProxy(sent), body, "http://up", 1.78e9, 0.0)
    f.response = Answer(200, CIMultiDict({"Content-Type": "application/json"}), answer)
    f.latency_ms = 1.5
    return f


async def forward(recorder: Recorder, f: Flow) -> None:
    """The recorder's request hook as the proxy runs it, then the loop's turn after the forward is written (where
    the request's half of the fixture is made)."""
    await recorder.request(f)
    assert f.notes["request_half"] is False  # nothing made before the forward goes out
    await asyncio.sleep(0)


def forwarded(recorder: Recorder, f: Flow) -> None:
    asyncio.run(forward(recorder, f))


def recorded(tmp_path: Path, flows: list[Flow], close: bool = True, forward: bool = False) -> tuple[Session, Recorder]:
    """`flows` recorded by done() alone (as for an answer an addon made), or after request() when `forward`."""
    session = Session(tmp_path / "s", {"session": "s"})
    recorder = Recorder(session, build_filter("all"), collections.Counter())
    for f in flows:
        if forward:
            forwarded(recorder, f)
        recorder.done(f)
    if close:
        recorder.close()
    return session, recorder


def full_way(flows: list[Flow]) -> list[bytes]:
    """The files the full path makes of `flows` (no compact record), as the recorder numbers them."""
    creds = Credentials()
    out = []
    for seq, f in enumerate(flows, 1):
        creds.learn_headers(f.headers)
        fixture = fixture_record(f, creds)
        fixture["seq"] = seq
        out.append(orjson.dumps(fixture, option=orjson.OPT_INDENT_2))
    return out


def journal_records(directory: Path) -> list[bytes]:
    contents = read_journal(directory / JOURNAL)
    assert contents is not None
    try:
        return [bytes(contents.data[r.offset : r.offset + r.length]) for r in contents.records]
    finally:
        contents.close()


# ---- which bodies may wait --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [FILLS, ORDER, b"[]", b"{}", b'[{"a": 1.5e3}]', b'{"a": NaN}', b"{} trailing", b'{\n  "a": "@x"\n}']
)
def test_json_looking_ascii_bodies_without_escapes_or_secret_names_may_wait(body):
    assert deferrable(body)


@pytest.mark.parametrize(
    "body",
    [
        b"",  # no body: nothing to parse
        b'"a string"',  # not an object or array
        b' {"a": 1}',  # leading space: the full way
        b"\xef\xbb\xbf{}",  # a BOM
        b"a=1&b=2",  # a form, redacted by parameter name
        '{"x": "café"}'.encode(),  # not ASCII: names may fold to a secret one (NFKC)
        b'{"x": "a\\"b"}',  # an escape: the parsed strings differ from the text
        b'{"to\\u006ben": "zzzzzzzzzzz"}',  # an escaped secret name
        b'{"nested": [{"Api-Key": "v"}]}',
        b'{"PASSWORD": "v"}',
        b'{"x_owner_x": "v"}',
        b'{"a": 1}\nAuthorization: Bearer eyJhbGciOi.x7Q9',  # not JSON, and assigns a secret-ish name (omitted)
        b'{"a":\n@ 12 0badc0de 001_GET_kalshi_x.json\n}',  # a line starting "@": a torn record's search stops there
        b"[x]=1&%61pi_key=v",  # not JSON: a form whose api_key is percent-encoded (expanding omits it; the journal)
        b"{x}=1&api[key]=v",  # not JSON: a form whose api[key] is secret (is_secret_param)
    ],
)
def test_everything_else_goes_the_full_way(body):
    assert not deferrable(body)


@pytest.mark.parametrize(
    "name", sorted({*SECRET_NAMES, *SECRET_ENDINGS, "api_key", "API-KEY", "Private_Key", "SET-COOKIE", "x-Token"})
)
def test_every_secret_name_however_spelled_is_a_hint(name):
    assert is_secret_field(name)
    for spelling in (name, name.upper(), name.title(), "_".join(name), "-".join(name), f"my{name}"):
        assert may_name_secrets(json.dumps({spelling: "v"}).encode()), spelling
        assert may_name_secrets(json.dumps({spelling: "v"}, ensure_ascii=False).encode()), spelling


PIECES = st.sampled_from(
    [b"tok", b"en", b"TOKEN", b"pass", b"word", b"_", b"-", b"own", b"er", b"\\u", b"x", b'"', b"k", b".", b" ", b"+"]
)


@given(st.lists(PIECES, max_size=12).map(b"".join))
@settings(max_examples=500)
def test_a_body_is_hinted_exactly_when_a_hint_is_in_it_folded(data):
    """The automaton stops at the leftmost hint; whether one is found is all the hot path asks."""
    folded = data.lower().translate(None, b"_-. +")
    assert may_name_secrets(data) == any(hint in folded for hint in HINTS)


NAMES = st.sampled_from(["ticker", "side", "count_fp", "a", "Token", "api_key", "PASS_PHRASE", "ownerId", "x-secret"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES | st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(JSON, st.booleans())
def test_a_body_that_may_wait_has_nothing_to_redact_by_name(value, escaped):
    """The fast path's promise: whatever redact_body would replace, the hint check sees first."""
    data = json.dumps(value, ensure_ascii=escaped).encode()
    found: list[Any] = []
    if redact_body(value, found) != value or found:
        assert may_name_secrets(data) and not deferrable(data)


@pytest.mark.parametrize(
    "url, hidden",
    [
        ("http://x/p?limit=5&api_key=s3cr3t-value", "s3cr3t-value"),
        ("http://x/p?limit=5&API-KEY=s3cr3t-value", "s3cr3t-value"),
        ("http://x/p?limit=5&%74oken=s3cr3t-value", "s3cr3t-value"),  # a percent-encoded name
        ("http://x/p?limit=5&pass%77ord=s3cr3t-value", "s3cr3t-value"),
    ],
)
def test_a_query_naming_a_secret_however_encoded_is_redacted(url, hidden):
    found: list[Any] = []
    assert hidden not in redact_url(url, found) and found == [hidden]


PARAM_PIECES = st.sampled_from(
    [b"api", b"_key", b"key", b"tok", b"en", b"auth", b"[", b"]", b"[]", b"0", b"Se", b"cret", b".", b"+", b" "]
)


@given(st.lists(PARAM_PIECES, min_size=1, max_size=8).map(b"".join))
@settings(max_examples=500)
def test_the_query_prefilter_passes_every_parameter_name_that_is_secret(name):
    """redact_url skips a query the prefilter rules out: it must not rule out a bracketed secret name."""
    if is_secret_param(name.decode()):
        assert may_name_secret_params(f"limit=5&{name.decode()}=v")


@pytest.mark.parametrize("name", ["api_key[0]", "api_key[]", "auth[token]", "creds[secret]", "api[key]"])
def test_brackets_split_a_parameter_name_but_not_a_json_key(name):
    assert is_secret_param(name) and not is_secret_field(name)


@pytest.mark.parametrize("name", ["api.key", "api key", "api+key", "Access.Key", "pass word", "api.key[0]"])
def test_php_reads_dots_spaces_and_pluses_in_a_parameter_name_as_underscores_but_a_json_key_is_as_written(name):
    assert is_secret_param(name) and not is_secret_field(name)
    assert may_name_secret_params(f"limit=5&{name}=v") and assigns_secret(f"{name}=s3cr3t-value".encode())
    assert may_name_secrets(f"{name}=v".encode())  # the prefilter of a frame's text (assigns_secret)


@pytest.mark.parametrize("name", ["api.key", "API key", "access+key", "private.key"])
def test_text_assigning_a_key_named_with_a_php_separator_cannot_be_scrubbed(name):
    assert assigns_secret(f"{name}: s3cr3t-value".encode()) and assigns_secret(f'"{name}" = s3cr3t'.encode())


@pytest.mark.parametrize("name", ["api.version", "key.id", "pass+through", "token.ids"])
def test_a_dotted_parameter_name_that_names_no_secret_is_not_one(name):
    assert not is_secret_param(name) and not assigns_secret(f"{name}=value".encode())


def test_a_query_naming_none_is_kept_as_sent():
    found: list[Any] = []
    assert redact_url("http://x/p?limit=5&cursor=a%20b", found) == "http://x/p?limit=5&cursor=a%20b" and not found


@pytest.mark.parametrize(
    "value, plain",
    [
        (KEY, True),
        ("Bearer abc.def-ghi", True),  # whitespace is inside a string in compact JSON
        ("12345678", False),  # a number's text: 1.2345678e7 is written 12345678.0
        ("1.5e+100", False),
        ("tok,en:with[brackets]", False),
        ('quote"inside', False),
        ("back\\slash", False),
    ],
)
def test_credentials_that_could_hide_across_json_structure_are_not_plain(value, plain):
    creds = Credentials()
    creds.learn([value])
    assert creds.plain is plain


# ---- the files are the same either way ---------------------------------------------------------------------

BODIES = [
    FILLS,
    ORDER,
    json.dumps(orjson.loads(FILLS), indent=2).encode(),  # whitespace kept in body_raw, not in body_parsed
    b'{"a": 1.5e3, "b": [1, 2.50, -0.0], "c": 1E2}',
    b'{"a": NaN}',  # body_omitted, decided when the file is written
    b'{"a": 1, "a": 2}',
    b"[1, 2] [3]",
    b'{"apiKey": "abcdefghijk", "nested": {"x": 1}}',
    b'{"x": "a\\"b\\/c"}',
    b'{"echo": "' + KEY.encode() + b'"}',
]


def test_files_written_from_compact_records_are_those_the_full_path_makes(tmp_path):
    flows = [flow(b, a) for b in BODIES for a in BODIES]
    expected = full_way([flow(b, a) for b in BODIES for a in BODIES])
    recorded(tmp_path, flows)
    files = sorted(p for p in (tmp_path / "s").iterdir() if p.name != "manifest.json")
    assert [p.read_bytes() for p in files] == expected


def test_files_are_the_same_when_the_request_half_is_made_before_the_answer(tmp_path):
    """request() redacts and encodes the request while the upstream answers; done() adds the response half."""
    flows = [flow(b, a) for b in BODIES for a in BODIES]
    sent = [flow(b, a) for b in BODIES for a in BODIES]
    for before, f in enumerate(sent):
        f.notes["sent_after"] = before  # request() puts each on the session clock
    expected = full_way(sent)
    _, recorder = recorded(tmp_path, flows, forward=True)
    files = sorted(p for p in (tmp_path / "s").iterdir() if p.name != "manifest.json")
    assert [p.read_bytes() for p in files] == expected
    assert recorder.counts["captured"] == len(flows)


def test_a_credential_learned_while_the_upstream_answers_is_scrubbed_from_the_request_made_before(tmp_path):
    """The request's half is encoded before the answer; a credential another request brings meanwhile is still
    kept off the disk: the record is checked by value when it is appended."""
    key = "b7e1c0de-5a5a-4c4c-9f9f-0123456789ab"
    early = flow(b'{"ticker": "KX", "note": "' + key.encode() + b'"}', FILLS)
    session = Session(tmp_path / "s", {"session": "s"})
    recorder = Recorder(session, build_filter("all"), collections.Counter())
    forwarded(recorder, early)
    assert "request_half" in early.notes
    forwarded(recorder, flow(ORDER, FILLS, {"KALSHI-ACCESS-KEY": key}))  # learned now, after early's half
    recorder.done(early)
    assert key.encode() not in (tmp_path / "s" / JOURNAL).read_bytes()
    session.close()
    (first,) = [p for p in (tmp_path / "s").iterdir() if p.name.startswith("001_")]
    assert orjson.loads(first.read_bytes())["request"]["body"] == {"ticker": "KX", "note": "[REDACTED]"}


B64_SECRET = "q+8/Zm9vYmFyYmF6cXV4+/w="  # a base64 secret: '+', '/' and '=' are percent-encoded


def lower_hex(text: str) -> str:
    """`text`'s percent-escapes in lower-case hex (%2b), as many encoders write them and servers accept."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), text)


def mixed_hex(text: str) -> str:
    """`text`'s percent-escapes with lower- and upper-case hex in turn (%2b then %2F), as a hand-made encoder may."""
    count = iter(range(len(text)))
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower() if next(count) % 2 == 0 else m[0], text)


def test_a_credential_is_found_and_scrubbed_with_its_percent_escapes_in_either_case():
    spelled = variants(B64_SECRET)
    creds = Credentials()
    creds.learn([B64_SECRET])
    assert creds.plain and variants(KEY) == {KEY}  # nothing percent-encoded: no other spelling
    for encoded in (quote(B64_SECRET, safe=""), quote_plus(B64_SECRET), quote(B64_SECRET)):
        assert encoded in spelled
        for spelling in (lower_hex(encoded), mixed_hex(encoded)):
            assert spelling != encoded and "%2b" in spelling.lower()
            assert creds.found_in(spelling.encode()) and creds.found_in(f"?c={spelling}&d=%2fx")
            assert creds.scrub(f"?c={spelling}&d=%41") == "?c=[REDACTED]&d=%41"
    assert creds.scrub("?d=%2fx") == "?d=%2fx"  # a text holding no credential keeps its escapes as they came


def test_a_credential_holding_an_escape_itself_is_scrubbed_as_it_came():
    creds = Credentials()
    creds.learn(["raw%2fkey-0123456789"])  # a value that holds what reads as a lower-case escape
    assert creds.scrub("a raw%2fkey-0123456789 b") == "a [REDACTED] b"
    assert creds.found_in(b"raw%2fkey-0123456789") and not creds.found_in(b"raw%2fkey-012345678")


@pytest.mark.parametrize("spelled", [lower_hex, mixed_hex])
@pytest.mark.parametrize(
    "answer",
    [
        b'{"next": "/p/fills?cursor=%s"}',  # may wait: checked by value when the record is appended
        b'{"next": "/p/fills?cursor=%s", "token_id": "7"}',  # a hint: the full way
    ],
)
def test_a_credential_percent_encoded_in_lower_or_mixed_case_hex_never_reaches_the_disk(tmp_path, answer, spelled):
    """A credential learned from an auth header, sent back encoded with lower-case (or mixed-case) escapes in a
    query and an answer."""
    in_query, in_body = spelled(quote(B64_SECRET, safe="")), spelled(quote(B64_SECRET))
    sent = flow(b"", answer % in_body.encode(), {"POLY_API_SECRET": B64_SECRET}, f"/p/fills?cursor={in_query}")
    _, recorder = recorded(tmp_path, [sent], close=False, forward=True)
    journal = (tmp_path / "s" / JOURNAL).read_bytes()
    recorder.close()
    (stored,) = [p for p in (tmp_path / "s").iterdir() if p.name.startswith("001_")]
    for data in (journal, stored.read_bytes(), (tmp_path / "s" / "manifest.json").read_bytes()):
        for spelling in (in_query, in_body, B64_SECRET):
            assert spelling.encode() not in data, spelling
    fixture = orjson.loads(stored.read_bytes())
    assert fixture["request"]["url"] == "http://up/p/fills?cursor=[REDACTED]"
    assert fixture["response"]["body_parsed"]["next"] == "/p/fills?cursor=[REDACTED]"


JS_SECRET = "k!e'y(1)*2~x/y+z= w"  # characters the common percent-encoders treat differently


def percent_encoded(text: str, keep: str, plus: bool = False) -> str:
    """`text` percent-encoded byte by byte, leaving letters, digits and `keep`; a space as '+' when `plus`."""
    out = []
    for char in text:
        if char.isascii() and (char.isalnum() or char in keep):
            out.append(char)
        else:
            out.append("+" if plus and char == " " else "".join(f"%{b:02X}" for b in char.encode()))
    return "".join(out)


ENCODERS = {
    "encodeURIComponent": percent_encoded(JS_SECRET, "-_.!~*'()"),
    "encodeURI": percent_encoded(JS_SECRET, "-_.!~*'();/?:@&=+$,#"),
    "quote, '~' escaped": percent_encoded(JS_SECRET, "-_."),
    "urlencode (PHP), '~' escaped": percent_encoded(JS_SECRET, "-_.", plus=True),
    "URLEncoder (Java)": percent_encoded(JS_SECRET, "-_.*", plus=True),
}


@pytest.mark.parametrize("encoder", ENCODERS)
def test_a_credential_s_variants_include_the_spellings_of_the_common_encoders(encoder):
    spelled = variants(JS_SECRET)
    encoded = ENCODERS[encoder]
    assert encoded not in {quote(JS_SECRET, safe=""), quote_plus(JS_SECRET), quote(JS_SECRET)}  # a new spelling
    assert encoded in spelled
    creds = Credentials()
    creds.learn([JS_SECRET])
    assert creds.plain and all(creds.found_in(f(encoded).encode()) for f in (str, lower_hex, mixed_hex))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_a_credential_encoded_by_another_encoder_never_reaches_the_disk(tmp_path, encoder):
    """A credential learned from an auth header, sent back as JavaScript (or PHP, or Java) encodes it, in a query
    and in an answer that may wait (checked by value when the record is appended) and one with a hint."""
    encoded = ENCODERS[encoder]
    answers = [b'{"next": "/p/fills?cursor=%s"}', b'{"next": "/p/fills?cursor=%s", "token_id": "7"}']
    sent = [
        flow(b"", answer % encoded.encode(), {"POLY_API_SECRET": JS_SECRET}, f"/p/fills?cursor={encoded}&limit=5")
        for answer in answers
    ]
    _, recorder = recorded(tmp_path, sent, close=False, forward=True)
    journal = (tmp_path / "s" / JOURNAL).read_bytes()
    recorder.close()
    stored = sorted(p for p in (tmp_path / "s").iterdir() if p.name.startswith("00"))
    assert len(stored) == 2
    for data in (journal, *(p.read_bytes() for p in stored), (tmp_path / "s" / "manifest.json").read_bytes()):
        for spelling in (encoded, lower_hex(encoded), mixed_hex(encoded), JS_SECRET):
            assert spelling.lower().encode() not in data.lower(), spelling
    for path in stored:
        fixture = orjson.loads(path.read_bytes())
        assert fixture["request"]["url"] == "http://up/p/fills?cursor=[REDACTED]&limit=5"
        assert fixture["response"]["body_parsed"]["next"] == "/p/fills?cursor=[REDACTED]"


HEX_LEAD_SECRET = "ab+8/Zm9vYmFyYmF6cXV4+/w="  # its first characters read as hex digits after a stray '%'


@pytest.mark.parametrize("before", ["100%", "%%", "%2"])
def test_a_credential_right_after_a_stray_percent_sign_is_found_and_scrubbed(before):
    """A '%' just before a credential's spelling (`100%ab%2b...`, `%2ab%2b...`) makes no escape of the spelling's
    own first letters: the spelling is still found, and only it is replaced."""
    creds = Credentials()
    creds.learn([HEX_LEAD_SECRET])
    for spelling in (lower_hex(quote(HEX_LEAD_SECRET, safe="")), mixed_hex(quote_plus(HEX_LEAD_SECRET))):
        text = before + spelling
        assert creds.found_in(text) and creds.found_in(text.encode()), text
        assert creds.scrub(text) == before + REDACTED, text


def test_a_credential_after_a_stray_percent_sign_never_reaches_the_disk(tmp_path):
    in_body = lower_hex(quote(HEX_LEAD_SECRET))
    answer = b'{"memo": "up 100%%%s"}' % in_body.encode()
    recorded(tmp_path, [flow(b"", answer, {"POLY_API_SECRET": HEX_LEAD_SECRET}, "/p/fills")])
    (stored,) = [p for p in (tmp_path / "s").iterdir() if p.name.startswith("001_")]
    for spelling in (in_body, HEX_LEAD_SECRET):
        assert spelling.encode() not in stored.read_bytes(), spelling
    assert orjson.loads(stored.read_bytes())["response"]["body_parsed"] == {"memo": "up 100%[REDACTED]"}


def test_scrubbing_a_credential_spelled_with_lower_case_escapes_keeps_the_rest_as_it_came(tmp_path):
    """Only the credential's spelling changes: other escapes, and text that merely reads as one ("100%bad"),
    stay byte for byte, in body_raw as in body_parsed."""
    rest = {"memo": "100%bad", "next": "/p/fills?q=%2fx"}
    answer = orjson.dumps({**rest, "c": lower_hex(quote(B64_SECRET, safe=""))})
    creds = Credentials()
    creds.learn([B64_SECRET])
    assert creds.scrub(answer.decode()) == orjson.dumps({**rest, "c": REDACTED}).decode()
    recorded(tmp_path, [flow(b"", answer, {"POLY_API_SECRET": B64_SECRET}, "/p/fills?d=%2fx")])
    (stored,) = [p for p in (tmp_path / "s").iterdir() if p.name.startswith("001_")]
    response = orjson.loads(stored.read_bytes())["response"]
    assert response["body_raw"] == orjson.dumps({**rest, "c": REDACTED}).decode()
    assert response["body_parsed"] == {**rest, "c": REDACTED}


def test_a_credential_holding_another_is_scrubbed_whole_in_any_case_of_escapes():
    """The longer credential's spelling goes first, whatever the case of its escapes: replacing the shorter one
    inside it would leave the rest of the longer one behind."""
    short, long = "key0123456789", "key0123456789+/the-secret-part"
    creds = Credentials()
    creds.learn([short, long])
    for spelling in (quote(long, safe=""), lower_hex(quote(long, safe="")), mixed_hex(quote(long, safe=""))):
        assert creds.scrub(f"?c={spelling}&k={short}") == f"?c={REDACTED}&k={REDACTED}", spelling


AROUND = st.text(st.sampled_from("%aAbB2f0 x"), max_size=4)  # text next to a spelling: a stray '%', hex digits


# What each common encoder leaves besides letters and digits, and whether a space is '+' (quote, quote with '/',
# quote_plus, then those of ENCODERS)
KEEPS = [
    ("-_.~", False),
    ("-_.~/", False),
    ("-_.~", True),
    *((k, False) for k in ("-_.!~*'()", "-_.!~*'();/?:@&=+$,#")),
]
KEEPS += [("-_.", False), ("-_.", True), ("-_.*", True)]


@settings(max_examples=300, deadline=None)
@given(
    st.text(st.characters(codec="utf-8", exclude_characters="[]"), min_size=6),
    st.sampled_from(KEEPS),
    st.lists(st.booleans(), max_size=40),
    AROUND,
    AROUND,
)
def test_a_credential_spelled_by_any_encoder_in_any_case_next_to_any_text_is_found_and_scrubbed(
    value, keep, lowered, before, after
):
    value = "ab" + value  # its spelling may start with what reads as an escape's hex digits after a stray '%'
    creds = Credentials()
    creds.learn([value])
    cases = iter(lowered)
    spelled = re.sub(
        r"%[0-9A-F]{2}", lambda m: m[0].lower() if next(cases, False) else m[0], percent_encoded(value, *keep)
    )
    text = before + spelled + after
    assert creds.found_in(text) and creds.found_in(text.encode()), text
    scrubbed = creds.scrub(text)
    assert REDACTED in scrubbed and not creds.found_in(scrubbed) and not creds.found_in(scrubbed.encode()), scrubbed


UNDECODABLE = "tok\udcffen-0123456789"  # a header value whose bytes were not UTF-8 (kept as a surrogate)


def test_a_credential_whose_bytes_are_not_utf8_is_learned_and_found():
    creds = Credentials()
    creds.learn([UNDECODABLE])
    later = "later-credential-0123456789+/"
    creds.learn([later])  # the session's credentials still grow after it
    for data in (b"tok\xffen-0123456789", b"tok%FFen-0123456789", b"tok%ffen-0123456789", quote(later).encode()):
        assert creds.found_in(data), data
    assert creds.scrub("a tok%ffen-0123456789 b") == f"a {REDACTED} b"


def test_a_header_whose_bytes_are_not_utf8_does_not_stop_later_credentials_being_scrubbed(tmp_path):
    """One auth header holding a byte that is not UTF-8 must not leave the session's credentials half learned: a
    key learned after it is still scrubbed where the exchange sends it back under a harmless name."""
    later = "kalshi-key-0123456789"
    sent = [
        flow(b"", FILLS, {"Authorization": f"Bearer {UNDECODABLE}"}, "/p/fills"),
        flow(b"", FILLS, {"KALSHI-ACCESS-KEY": later}, "/p/fills"),
        flow(b"", b'{"next": "/p/fills?k=%s"}' % later.encode(), {"KALSHI-ACCESS-KEY": later}, "/p/fills"),
    ]
    recorded(tmp_path, sent)
    stored = sorted(p for p in (tmp_path / "s").iterdir() if p.name.startswith("00"))
    assert len(stored) == 3
    for path in stored:
        assert later.encode() not in path.read_bytes() and b"tok" not in path.read_bytes(), path.name


PATH_KEY = "zqxwvutsrponmlkj-abcd"  # a credential that reads as a path's meaningful segment (lower-case letters)


def test_a_credential_that_is_a_path_s_last_segment_never_names_a_fixture(tmp_path):
    """GET /keys/<key>: the endpoint part of the name would be the key; the recorded name says `redacted` instead,
    in the file, the manifest and the journal's record header. The seq and the rest of the name stay."""
    sent = [
        flow(b"", FILLS, {"KALSHI-ACCESS-KEY": PATH_KEY}, f"/trade-api/v2/keys/{PATH_KEY}"),
        flow(b"", FILLS, {"KALSHI-ACCESS-KEY": PATH_KEY}, f"/trade-api/v2/keys/{PATH_KEY}/orders?x={PATH_KEY}"),
        flow(b"", FILLS, {"KALSHI-ACCESS-KEY": PATH_KEY}, f"/trade-api/v2/keys/my-{PATH_KEY}"),  # '-' named '_'
    ]
    _, recorder = recorded(tmp_path, sent, close=False)
    journal = (tmp_path / "s" / JOURNAL).read_bytes()
    recorder.close()
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    expected = ["001_POST_kalshi_redacted.json", "002_POST_kalshi_orders.json", "003_POST_kalshi_redacted.json"]
    assert names == [*expected, "manifest.json"]
    for data in (journal, (tmp_path / "s" / "manifest.json").read_bytes(), *(tmp_path / "s" / n for n in expected)):
        data = data if isinstance(data, bytes) else data.read_bytes()
        assert PATH_KEY.encode() not in data and PATH_KEY.replace("-", "_").encode() not in data
    manifest = orjson.loads((tmp_path / "s" / "manifest.json").read_bytes())
    assert [entry["file"] for entry in manifest["fixtures"]] == expected
    assert [p.name for p in session_files(tmp_path / "s")] == expected  # names replay and fsck load


def test_a_credential_learned_after_a_path_was_named_still_keeps_out_of_the_name(tmp_path):
    """name_tail is cached by method, exchange and path: a credential learned later must still keep it out."""
    target = f"/trade-api/v2/keys/{PATH_KEY}"
    early, late = flow(b"", FILLS, target=target), flow(b"", FILLS, {"KALSHI-ACCESS-KEY": PATH_KEY}, target)
    recorded(tmp_path, [early, late])
    names = sorted(p.name for p in (tmp_path / "s").iterdir() if p.name != "manifest.json")
    assert names == [f"001_POST_kalshi_{PATH_KEY.replace('-', '_')}.json", "002_POST_kalshi_redacted.json"]


def test_a_websocket_handshake_at_a_credential_s_path_names_its_frames_file_like_its_fixture(tmp_path):
    handshake = flow(b"", b"", {"KALSHI-ACCESS-KEY": PATH_KEY}, f"/ws/{PATH_KEY}")
    handshake.method, handshake.upgrade = "GET", True
    handshake.response = Answer(101, CIMultiDict({"Upgrade": "websocket"}), b"")
    recorded(tmp_path, [handshake])
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert names == ["001_GET_kalshi_redacted.frames.jsonl", "001_GET_kalshi_redacted.json", "manifest.json"]
    fixture = orjson.loads((tmp_path / "s" / "001_GET_kalshi_redacted.json").read_bytes())
    assert fixture["websocket"]["frames"] == "001_GET_kalshi_redacted.frames.jsonl"
    assert PATH_KEY.encode() not in (tmp_path / "s" / "001_GET_kalshi_redacted.json").read_bytes()
    fsck = CliRunner().invoke(main, ["fsck", str(tmp_path / "s")])  # the names load, the frames file is its own
    assert fsck.exit_code == 0 and "0 problems" in fsck.output, fsck.output


def test_a_request_whose_redaction_fails_is_not_recorded_and_leaves_no_seq_gap(tmp_path, monkeypatch):
    """The failure of the request's half is the capture's, raised in done() (after the exchange answered, where
    the proxy counts and logs it): the request is not refused, nothing reaches the journal, no seq is taken."""
    from proxy.record import recorder as recorder_module

    def broken(*args: Any) -> dict[str, Any]:
        raise RuntimeError("redaction broke")

    session = Session(tmp_path / "s", {"session": "s"})
    recorder = Recorder(session, build_filter("all"), collections.Counter())
    failing = flow(ORDER, FILLS)
    with monkeypatch.context() as patched:
        patched.setattr(recorder_module, "request_record", broken)
        forwarded(recorder, failing)
    assert isinstance(failing.notes["request_half"], RuntimeError)
    with pytest.raises(RuntimeError, match="redaction broke"):
        recorder.done(failing)
    assert session.last_seq == 0 and journal_records(tmp_path / "s") == []
    forwarded(recorder, ok := flow(ORDER, FILLS))
    recorder.done(ok)
    session.close()
    assert [p.name[:4] for p in (tmp_path / "s").iterdir() if p.name != "manifest.json"] == ["001_"]


async def test_manifest_entries_made_after_the_answers_are_all_in_a_manifest_written_before(tmp_path):
    """Session.write leaves each manifest entry to the next turn of the event loop, after the answer is written;
    a manifest written sooner (a close in the same turn) still lists every fixture, in seq order."""
    session = Session(tmp_path / "s", {"session": "s"})
    recorder = Recorder(session, build_filter("all"), collections.Counter())
    for f in [flow(ORDER, FILLS), flow(b"", FILLS, target="/p/fills?limit=5"), flow(ORDER, FILLS)]:
        await forward(recorder, f)
        recorder.done(f)
    assert session.count == 3
    recorder.close()
    entries = orjson.loads((tmp_path / "s" / "manifest.json").read_bytes())["fixtures"]
    assert [(e["seq"], e["method"], e["url"]) for e in entries] == [
        (1, "POST", "http://up/p/orders"),
        (2, "POST", "http://up/p/fills?limit=5"),
        (3, "POST", "http://up/p/orders"),
    ]


async def test_an_answer_that_comes_before_the_request_half_is_made_makes_it_in_done(tmp_path):
    """The half is left to the loop's next turn; a done() sooner (an answer without a wait) makes it itself, once."""
    session = Session(tmp_path / "s", {"session": "s"})
    recorder = Recorder(session, build_filter("all"), collections.Counter())
    quick = flow(ORDER, b'{"note": "' + KEY.encode() + b'"}', {"KALSHI-ACCESS-KEY": KEY})
    await recorder.request(quick)
    recorder.done(quick)  # the request's credential is learned here, before the answer is checked for it
    await asyncio.sleep(0)  # the half's turn: nothing left to make
    assert "request_half" not in quick.notes and session.count == 1
    assert KEY.encode() not in (tmp_path / "s" / JOURNAL).read_bytes()
    recorder.close()
    (name,) = [p for p in (tmp_path / "s").iterdir() if p.name.startswith("001_")]
    assert orjson.loads(name.read_bytes())["response"]["body_parsed"] == {"note": "[REDACTED]"}


async def test_manifest_entries_are_made_with_the_files_not_on_the_request_path(tmp_path):
    """The answer waits for the journal append only: a fixture's manifest entry is made when its file is written
    from the journal (here one by one, as the idle materialiser does), in seq order."""
    session = Session(tmp_path / "s", {"session": "s"})
    recorder = Recorder(session, build_filter("all"), collections.Counter())
    for f in [flow(ORDER, FILLS), flow(b"", FILLS, target="/p/fills?limit=5")]:
        recorder.done(f)
    await asyncio.sleep(0)
    assert session._entries == b""
    session.materialise_one()
    assert orjson.loads(b"[" + session._entries + b"]") == [
        {
            "seq": 1,
            "file": "001_POST_kalshi_orders.json",
            "exchange": "kalshi",
            "method": "POST",
            "url": "http://up/p/orders",
            "status": 200,
            "latency_ms": 1.5,
        }
    ]
    session.materialise_one()
    assert [e["seq"] for e in orjson.loads(b"[" + session._entries + b"]")] == [1, 2]
    recorder.close()


def test_a_killed_recorders_compact_records_become_the_same_files(tmp_path):
    flows = [flow(ORDER, FILLS), flow(b"", FILLS, target="/p/fills?limit=5"), flow(ORDER, b'{"a": NaN}')]
    expected = full_way([flow(ORDER, FILLS), flow(b"", FILLS, target="/p/fills?limit=5"), flow(ORDER, b'{"a": NaN}')])
    session, _ = recorded(tmp_path, flows, close=False)
    killed(session)  # what a SIGKILL leaves
    assert [r[:1] for r in journal_records(tmp_path / "s")] == [MARK, MARK, MARK]
    problems, written = settle_journal(tmp_path / "s")
    assert problems == [] and written == 3
    files = sorted(p for p in (tmp_path / "s").iterdir() if p.name != "manifest.json")
    assert [p.read_bytes() for p in files] == expected


def test_a_version_1_journal_is_still_read(tmp_path):
    directory = tmp_path / "s"
    directory.mkdir()
    fixture = {"seq": 1, "exchange": "kalshi", "request": {"method": "GET", "url": "http://x/a", "headers": {}}}
    data = orjson.dumps(fixture, option=orjson.OPT_INDENT_2)
    (directory / JOURNAL).write_bytes(MAGIC_V1 + record_bytes("001_GET_kalshi_a.json", data))
    assert settle_journal(directory) == ([], 1)
    assert (directory / "001_GET_kalshi_a.json").read_bytes() == data and not (directory / JOURNAL).exists()


def test_a_compact_record_that_does_not_add_up_is_refused():
    record = pack({"seq": 1, "request": {"method": "POST"}}, [("request", ORDER)])
    assert unpack(record)["request"]["body"] == orjson.loads(ORDER)
    with pytest.raises(ValueError, match="add up"):
        file_bytes(record + b"x")
    with pytest.raises(ValueError, match="does not hold"):
        file_bytes(pack({"seq": 1}, [("response", ORDER)]))


# ---- no secret reaches the disk, the journal included -------------------------------------------------------


def test_a_credential_in_a_body_that_could_wait_is_scrubbed_before_the_journal(tmp_path):
    """The header's key is learned, then quoted back in a body with no secret name: the full way, scrubbed."""
    session, _ = recorded(tmp_path, [flow(ORDER, b'{"error": "bad key ' + KEY.encode() + b'"}')], close=False)
    assert KEY.encode() not in (tmp_path / "s" / JOURNAL).read_bytes()
    assert journal_records(tmp_path / "s")[0][:1] == b"{"  # written whole, not in the compact form
    session.close()
    (name,) = [p for p in (tmp_path / "s").iterdir() if p.name != "manifest.json"]
    assert orjson.loads(name.read_bytes())["response"]["body_parsed"] == {"error": "bad key [REDACTED]"}


def test_a_credential_that_is_not_plain_keeps_every_body_off_the_compact_form(tmp_path):
    token = "tok,en:with[brackets]"
    flows = [flow(ORDER, FILLS, {"Authorization": f"Bearer {token}"}), flow(ORDER, b'{"z": "' + token.encode() + b'"}')]
    session, _ = recorded(tmp_path, flows, close=False)
    journal = (tmp_path / "s" / JOURNAL).read_bytes()
    assert token.encode() not in journal and [r[:1] for r in journal_records(tmp_path / "s")] == [b"{", b"{"]
    session.close()


def test_secret_fields_are_redacted_before_the_journal(tmp_path):
    planted = b'{"ticker": "KX", "apiKey": "PLANTED-1-x7Q9x7Q9", "nested": [{"passphrase": "PLANTED-2-x7Q9x7Q9"}]}'
    session, _ = recorded(tmp_path, [flow(planted, planted), flow(ORDER, b'{"again": "PLANTED-1-x7Q9x7Q9"}')], False)
    assert b"PLANTED" not in (tmp_path / "s" / JOURNAL).read_bytes()
    session.close()
    assert b"PLANTED" not in b"".join(p.read_bytes() for p in (tmp_path / "s").iterdir())


def test_the_journal_file_holds_what_journalfile_appended(tmp_path):
    """The compact form is the journal's business only: every reader gets the file's bytes."""
    journal = JournalFile(tmp_path / JOURNAL)
    journal.restart()
    record = pack({"seq": 1, "response": {"status": 200, "headers": {}}}, [("response", FILLS)])
    journal.append(record_bytes("001_GET_kalshi_fills.json", record))
    found = journal.record_at(len(b"tradetape journal 2\n"))
    assert found is not None and found[1] == file_bytes(record)
    assert orjson.loads(found[1])["response"]["body_parsed"] == orjson.loads(FILLS)
    journal.close()


def test_a_compact_record_that_does_not_expand_is_named_and_kept(tmp_path):
    """Whole by its CRC yet no fixture: fsck names it and keeps the journal, record will not continue the session,
    audit still reads every byte, and the good records around it become files."""
    directory = tmp_path / "s"
    directory.mkdir()
    bad = pack({"seq": 2, "request": {"method": "POST"}}, [("request", ORDER)]) + b"x"
    good = pack({"seq": 1, "request": {"method": "POST", "url": "http://x/p", "headers": {}}}, [("request", ORDER)])
    records = record_bytes("001_POST_kalshi_p.json", good) + record_bytes("002_POST_kalshi_p.json", bad)
    (directory / JOURNAL).write_bytes(b"tradetape journal 2\n" + records)
    problems, written = settle_journal(directory)
    assert written == 1 and (directory / "001_POST_kalshi_p.json").read_bytes() == file_bytes(good)
    assert len(problems) == 1 and "002_POST_kalshi_p.json cannot be expanded" in problems[0]
    assert (directory / JOURNAL).exists()
    with pytest.raises(SessionError, match=r"journal cannot be used .*002_POST_kalshi_p.json cannot be expanded"):
        Session(directory, {"session": "s"}, append=True)
    assert entries(directory / JOURNAL) == [(directory / JOURNAL, (directory / JOURNAL).read_bytes(), False)]


def planted_journal(directory: Path, *records: tuple[str, bytes]) -> Path:
    directory.mkdir()
    path = directory / JOURNAL
    path.write_bytes(b"tradetape journal 2\n" + b"".join(record_bytes(name, data) for name, data in records))
    return path


def test_audit_finds_a_secret_planted_in_a_compact_records_body(tmp_path):
    """Expanding a record redacts what it parses; the journal still holds the secret, so audit must say so."""
    planted = b'{"ticker": "KX", "apiKey": "PLANTED-x7Q9x7Q9"}'
    fixture = {"seq": 1, "exchange": "kalshi", "request": {"method": "POST", "url": "http://x/p", "headers": {}}}
    path = planted_journal(tmp_path / "s", ("001_POST_kalshi_p.json", pack(fixture, [("request", planted)])))
    findings, _ = audit_tree([path])
    assert any("apiKey" in f.field for f in findings), findings


def test_audit_finds_a_secret_in_a_journal_record_that_does_not_expand(tmp_path):
    bad = pack({"seq": 1, "request": {"method": "POST", "password": "PLANTED-x7Q9x7Q9"}}, [("request", ORDER)]) + b"x"
    path = planted_journal(tmp_path / "s", ("001_POST_kalshi_p.json", bad))
    findings, _ = audit_tree([path])
    assert findings and all(f.file == path for f in findings), findings


@pytest.mark.parametrize(
    "record",
    [
        b"[1]\n{}\n",  # a span that is no [where, length]
        b'[["request", "5"]]\n{"request": {}}\n{"a":1}',  # a length that is no number
        b'[["request", -3], ["response", 10]]\n{"request": {}, "response": {}}\n{"a":1}',  # adds up, negative
        b'[["request", 1.5]]\n{"request": {}}\n{}',
        b"[]\n[1, 2]\n",  # a fixture that is no object
        b"[]",  # no lines at all
    ],
)
def test_a_compact_record_of_the_wrong_shape_is_a_named_error(record):
    with pytest.raises(ValueError):
        file_bytes(record)


def test_an_answer_holding_a_journal_record_cannot_become_a_fixture_when_its_own_record_is_torn(tmp_path):
    """A torn end is searched for the next whole record: a body written raw must not be able to hold one."""
    forged = record_bytes("002_GET_kalshi_forged.json", b'{"seq": 2, "forged": true}')
    answer = b'{"a": 1}\n' + forged + b"\n"
    session, _ = recorded(tmp_path, [flow(ORDER, FILLS), flow(ORDER, answer)], close=False)
    killed(session)
    path = tmp_path / "s" / JOURNAL
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1])  # the second record torn (a write cut short by SIGKILL)
    contents = read_journal(path)
    assert contents is not None
    try:
        assert [r.name for r in contents.records] == ["001_POST_kalshi_orders.json"] and contents.torn
    finally:
        contents.close()
