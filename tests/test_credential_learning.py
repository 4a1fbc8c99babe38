"""Learning a credential costs the same however many are known: spellings are added, not rebuilt, and the patterns
are compiled only when a scan needs one. What is found and scrubbed is what the former algorithm (rebuilding and
recompiling everything on every learn, kept here as the reference) found and scrubbed, byte for byte."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.tape import secrets
from proxy.tape.secrets import _ESCAPE, MIN_CREDENTIAL, REDACTED, Credentials, either_case, plain, variants


class Reference:
    """The former Credentials: every spelling rebuilt and every pattern compiled on each learn."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.texts: tuple[str, ...] = ()
        self.bytes: tuple[bytes, ...] = ()
        self.lowered: tuple[bytes, ...] = ()
        self.either_text: re.Pattern[str] | None = None
        self.either_bytes: re.Pattern[bytes] | None = None
        self.spans: re.Pattern[str] | None = None
        self.plain = True

    def learn(self, values: Iterable[Any]) -> None:
        new = {v for v in values if isinstance(v, str) and len(v) >= MIN_CREDENTIAL and v != REDACTED} - self.values
        if new:
            texts = {variant for value in self.values | new for variant in variants(value)}
            self.texts = tuple(sorted(texts, key=len, reverse=True))
            self.bytes = tuple(text.encode("utf-8", "surrogateescape") for text in self.texts)
            self.lowered = tuple(text.lower() for text in self.bytes)
            cased = any(map(_ESCAPE.search, self.texts))
            either = "|".join(map(either_case, self.texts))
            self.either_text = re.compile(either) if cased else None
            self.spans = re.compile(either)
            self.either_bytes = re.compile(either.encode("utf-8", "surrogateescape")) if cased else None
            self.plain = all(map(plain, self.texts))
            self.values |= new

    def found_in(self, data: bytes | str) -> bool:
        if not self.bytes:
            return False
        if isinstance(data, bytes):
            if self.either_bytes is None or b"%" not in data:
                return any(v in data for v in self.bytes)
            lowered = data.lower()
            return any(v in lowered for v in self.lowered) and self.either_bytes.search(data) is not None
        if any(v in data for v in self.texts):
            return True
        return self.either_text is not None and "%" in data and self.either_text.search(data) is not None

    def scrub(self, text: str) -> str:
        if self.spans is None or not self.found_in(text):
            return text
        out: list[str] = []
        kept = 0
        match = self.spans.search(text)
        while match is not None:
            start, end = match.span()
            if start > kept or not out:
                out += [text[kept:start], REDACTED]
            kept = max(kept, end)
            match = self.spans.search(text, start + 1)
        return "".join([*out, text[kept:]])


# Letters that are hex digits and others, what the encoders escape, JSON escapes, non-ASCII and a byte that was not
# UTF-8 (a surrogate): every kind of spelling.
ALPHABET = "aAbBfFzZ09+/=%~!*'() \"\\é\n\udcff-_."
values = st.text(ALPHABET, min_size=MIN_CREDENTIAL - 2, max_size=14)  # some too short to learn


@st.composite
def batches(draw: st.DrawFn) -> list[list[str]]:
    """Values learned in batches; many share a head or a tail with another (one the other's prefix, or overlapping
    it), so which spelling is the longest at a place matters."""
    base = draw(st.text(ALPHABET, min_size=MIN_CREDENTIAL, max_size=16))
    related = st.builds(
        lambda cut, head, tail: head + base[cut:] if cut % 2 else base[:cut] + tail,
        st.integers(0, len(base)),
        st.text(ALPHABET, max_size=6),
        st.text(ALPHABET, max_size=6),
    )
    return draw(st.lists(st.lists(st.one_of(values, related), max_size=3), min_size=1, max_size=4))


def hex_case_flipped(text: str, flips: list[bool]) -> str:
    """`text` with its escapes' hex digits in the other case where `flips` says so (`%2B` -> `%2b`, `%252F`)."""
    pieces = iter(flips * (len(text) + 1))
    return re.sub(r"%(?:25)?[0-9A-Fa-f]{2}", lambda m: m[0].swapcase() if next(pieces, False) else m[0], text)


@st.composite
def texts(draw: st.DrawFn, known: list[str]) -> str:
    """A text holding spellings of `known` (whole, cut short, case-flipped, next to or overlapping each other)."""
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(("noise", "spelling", "cut", "flipped")))
        if kind == "noise" or not known:
            parts.append(draw(st.text(ALPHABET + "\ud800", max_size=6)))  # a surrogate no byte stands for
            continue
        spelling = draw(st.sampled_from(sorted(variants(draw(st.sampled_from(known))))))
        if kind == "cut":
            spelling = spelling[draw(st.integers(0, len(spelling))) :][: draw(st.integers(0, len(spelling)))]
        elif kind == "flipped":
            spelling = hex_case_flipped(spelling, draw(st.lists(st.booleans(), min_size=1, max_size=4)))
        parts.append(spelling)
    return "".join(parts)


@pytest.mark.parametrize("build_after", [0, secrets.BUILD_AFTER])  # 0: an automaton built after every miss
def test_found_and_scrubbed_as_the_former_algorithm(build_after: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(secrets, "BUILD_AFTER", build_after)
        found_and_scrubbed_as_the_former_algorithm()


@settings(max_examples=300, deadline=None)
@given(st.data(), batches())
def found_and_scrubbed_as_the_former_algorithm(data: st.DataObject, learned: list[list[str]]) -> None:
    creds, reference = Credentials(), Reference()
    for batch in learned:  # learned in batches, scanned between them
        creds.learn(batch)
        reference.learn(batch)
        known = sorted(reference.values)
        for _ in range(3):
            text = data.draw(texts(known))
            data_bytes = text.encode("utf-8", "surrogatepass" if "\ud800" in text else "surrogateescape")
            assert creds.found_in(text) == reference.found_in(text)
            assert creds.found_in(data_bytes) == reference.found_in(data_bytes)
            assert creds.scrub(text) == reference.scrub(text)
        assert creds.values == reference.values
        assert creds.plain == reference.plain
        assert bool(creds) == bool(reference.values)


def test_overlapping_spellings_are_replaced_as_one_whatever_the_learning_order() -> None:
    """The longest spelling at each place wins, however the values were learned (one batch or one by one)."""
    head, tail = "key-AAAA+/BBBB", "+/BBBB-secret+/x"
    text = f"a {head}-secret+/x b key-AAAA%2b%2fBBBB c"
    for order in ([head, tail], [tail, head]):
        creds = Credentials()
        for value in order:
            creds.learn([value])
        assert creds.scrub(text) == f"a {REDACTED} b {REDACTED} c"


def test_a_credential_holding_a_shorter_one_is_replaced_whole_learned_after_it() -> None:
    creds = Credentials()
    creds.learn(["key-AAAA+BBBB"])
    creds.learn(["key-AAAA+BBBB+CC/DD"])  # the first one's spellings followed by more: the longest wins
    assert creds.scrub("a key-AAAA+BBBB+CC/DD b key-AAAA%2BBBBB%2bCC%2FDD c") == f"a {REDACTED} b {REDACTED} c"


def test_learning_compiles_nothing_until_a_scan_needs_a_pattern(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[Any] = []
    compile_pattern = re.compile

    def counting(pattern: Any, flags: int = 0) -> Any:
        compiled.append(pattern)
        return compile_pattern(pattern, flags)

    monkeypatch.setattr(secrets.re, "compile", counting)
    creds = Credentials()
    for number in range(2000):
        creds.learn([f"AWSALB=cookie+{number:05d}/value=="])  # escapes in every encoder's spelling
        assert not creds.found_in(b'{"price": 57, "note": "no credential here"}')  # no '%': no pattern needed
        assert creds.scrub("GET /p?cursor=a%3D 200") == "GET /p?cursor=a%3D 200"  # a log line: none is near
    assert compiled == []
    assert creds.found_in(b"x=AWSALB%3Dcookie%2b01999%2Fvalue%3d%3D") and len(compiled) == 1  # the bytes pattern
    scrubbed = creds.scrub("at AWSALB=cookie+00007/value== and AWSALB%3dcookie%2B01234%2fvalue%3D%3D.")
    assert scrubbed == f"at {REDACTED} and {REDACTED}." and len(compiled) == 2  # the text pattern, once
    assert creds.scrub("AWSALB=cookie+00042/value==") == REDACTED and len(compiled) == 2  # compiled already
    creds.learn(["one-more-credential"])
    assert creds.scrub("a one-more-credential") == f"a {REDACTED}" and len(compiled) == 3  # a learn: compiled anew


def test_a_value_is_learned_only_once_every_spelling_is_searchable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The log filter scrubs on the flush thread while the event loop learns: whatever it sees midway through a learn
    (here, as the new spellings are built), a value in `values` is scrubbed, its escapes in either case too."""
    creds = Credentials()
    creds.learn(["first-credential"])
    seen: list[set[str]] = []
    adding = secrets.Spellings.adding

    def scrubbing_midway(spelled: secrets.Spellings, texts: list[str]) -> secrets.Spellings:
        seen.append(set(creds.values))
        for value in creds.values:
            assert creds.scrub(f"x {quote(value, safe='')} y") == f"x {REDACTED} y"
        return adding(spelled, texts)

    monkeypatch.setattr(secrets.Spellings, "adding", scrubbing_midway)
    creds.learn(["cookie+0001/value"])
    creds.learn(["cookie+0002/value", "another-one"])
    assert seen == [{"first-credential"}, {"first-credential", "cookie+0001/value"}]
    assert creds.scrub("a cookie%2B0002%2fvalue b another-one") == f"a {REDACTED} b {REDACTED}"


BODY = b'{"orders": [' + b",".join(b'{"id": "%08d", "side": "yes", "price": "0.5700"}' % i for i in range(40)) + b"]}"


def counting_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    builds: list[int] = []
    build = secrets.BytesAhoCorasick

    def counting(patterns: list[bytes], **options: Any) -> Any:
        builds.append(len(patterns))
        return build(patterns, **options)

    monkeypatch.setattr(secrets, "BytesAhoCorasick", counting)
    return builds


def test_a_handful_of_credentials_are_searched_for_by_one_automaton(monkeypatch: pytest.MonkeyPatch) -> None:
    builds = counting_builds(monkeypatch)
    creds = Credentials()
    creds.learn(["api-key-0001", "pass+phrase/2", "bearer-token-3"])
    for _ in range(1000):
        assert not creds.found_in(BODY)
    assert builds == [len(creds._known.bytes.patterns)]  # built once, after a few searches one by one
    assert creds.found_in(BODY + b"pass%2Bphrase%2F2") and creds.found_in(b"x bearer-token-3")
    creds.learn(["one-more-credential"])
    assert creds.found_in(b"one-more-credential") and creds.found_in(BODY + b"api-key-0001")


def test_a_cookie_reissued_on_every_answer_does_not_rebuild_the_automaton_each_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builds = counting_builds(monkeypatch)
    creds = Credentials()
    for number in range(2000):
        creds.learn([f"AWSALB=cookie+{number:05d}/value=="])
        assert not creds.found_in(BODY)
        assert creds.found_in(b"the cookie: AWSALB=cookie+%05d/value==" % number)
    assert 0 < len(builds) < 100
    assert creds.found_in(b"AWSALB%3dcookie%2b00000%2fvalue%3d%3d")  # the first, its escapes in lower case


SMALL = st.binary(max_size=30).map(lambda data: bytes(97 + byte % 3 for byte in data))  # 'a' to 'c': many overlaps


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(SMALL.filter(bool).map(lambda p: p[:6]), min_size=1, max_size=5), st.lists(SMALL)),
        min_size=1,
        max_size=5,
    ),
    st.integers(0, 2),
)
def test_the_index_finds_a_spelling_wherever_one_is(batches: list[tuple[list[bytes], list[bytes]]], after: int) -> None:
    """Patterns prefixes of one another, overlapping or repeated, some in an automaton built after every miss (a
    leftmost-first scan reports the leftmost match) and some added since: found whenever one is in the data."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(secrets, "BUILD_AFTER", after)
        index, patterns = secrets.Index(), []
        for added, scanned in batches:
            index, patterns = index.adding(tuple(added)), patterns + added
            for data in scanned:
                assert index.found_in(data) == any(pattern in data for pattern in patterns)
