"""The one rule set for secrets, shared by recording (redact.py) and `tradetape audit`.

By name: headers, JSON fields at any depth, query and form parameters whose name, compared folded
(NFKC, case-folded, '_' and '-' removed), is secret-ish (a parameter's by its bracketed parts too: `auth[token]`,
and with '.', ' ' and '+' removed as well: PHP reads `api.key` and `api+key` as `api_key`).
By value: every credential the proxy has seen in a session (`Credentials`) is scrubbed wherever it appears, as
sent, JSON-escaped or percent-encoded the way the common encoders write it (upper- or lower-case hex).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

import orjson
from ahocorasick_rs import BytesAhoCorasick, Implementation, MatchKind

from proxy.exchanges import PROFILES
from proxy.exchanges.strict_json import fold
from proxy.tape.frames import pointer_segment

REDACTED = "[REDACTED]"
MIN_CREDENTIAL = 8  # shorter values are redacted by name only: scrubbing them by value would hit unrelated text

# Folded names (see norm) that are secret wherever they appear, and the endings that make a name secret;
# the exchange profiles' own secret headers and fields are added below (applied to every exchange alike).
GENERIC_SECRET_NAMES = ("owner", "token", "passwd", "apikeyid", "accesskeyid", "cookie", "setcookie", "authorization")
SECRET_ENDINGS = ("secret", "password", "passphrase", "privatekey", "apikey", "accesskey", "token")
HEADER_ENDINGS = (*SECRET_ENDINGS, "signature", "authorization", "cookie")
# Secret headers whose value changes on every request: redacted, but not worth learning as credentials.
PER_REQUEST_ENDINGS = ("signature", "timestamp", "nonce")

# A text body that assigns a secret-ish name (`password: x`, `"token"=...`) cannot be scrubbed with certainty.
ASSIGNMENT = re.compile(
    rb"(?i)(?:secret|token|passw(?:or)?d|passphrase|api[_. +-]?key|access[_. +-]?key|private[_. +-]?key|owner"
    rb"|authorization)"
    rb"[\"']?\s*[:=]"
)
# Folded the way names are compared, a body holding none of these bytes names no secret field (the hot path).
# "\\u": a key may be written with JSON escapes; non-ASCII bodies are checked in full (see may_name_secrets).
# "auth" (and so "authorization"): every name ASSIGNMENT refuses in text is a hint, so a text body or message is
# looked at; and an `auth` field must be seen to be an object (odd_auth).
HINTS: tuple[bytes, ...] = (
    *(b"owner", b"token", b"passwd", b"password", b"secret", b"passphrase", b"apikey", b"accesskey", b"privatekey"),
    *(b"cookie", b"auth", b"\\u"),
)
# All hints in one pass over the body. Only whether one is there matters, so the automaton may stop at the
# leftmost: that kind uses a prefilter skipping to the hints' rarer bytes (a 2 KB answer without any: 0.6 µs as a
# DFA; reporting every match, the default, 4.3; one regular expression of them 10.6, a substring search per hint 18).
_HINT_SEARCH = BytesAhoCorasick(list(HINTS), matchkind=MatchKind.LeftmostFirst, implementation=Implementation.DFA)
_FOLD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
FORM = re.compile(r"[^=&\s]+=[^&\s]*(?:&[^=&\s]+=[^&\s]*)*")
BRACKETS = re.compile(r"[\[\]]")
# The common percent-encoders, as (what each leaves as it is besides letters, digits and "-_.", a space as '+'):
# Python's quote (safe="", and its default "/"; PHP's rawurlencode, Go's PathEscape), JavaScript's
# encodeURIComponent and encodeURI, '~' escaped too (RFC 2396 encoders); quote_plus (Go's QueryEscape),
# PHP's urlencode, Java's URLEncoder.
ENCODERS: tuple[tuple[str, bool], ...] = (
    ("~", False),
    ("~/", False),
    ("~!'()*", False),
    ("~!'()*;/?:@&=+$,#", False),
    ("", False),
    ("~", True),
    ("", True),
    ("*", True),
)
# What a parameter's name loses besides '_' and '-' (norm): PHP turns '.' and ' ' ('+' in a query) into '_'.
_PARAM_SEPARATORS = str.maketrans("", "", ". +")
_HINT_DROPPED = b"_-[]. +"  # what may_name_secrets removes: whatever any name rule ignores


def norm(name: str) -> str:
    """A name as secret names are compared: NFKC, case-folded, '_' and '-' removed."""
    return fold(name).replace("_", "").replace("-", "")


SECRET_NAMES = frozenset(map(norm, GENERIC_SECRET_NAMES)).union(
    *(map(norm, p.secret_fields) for p in PROFILES.values())
)
SECRET_HEADER_NAMES = SECRET_NAMES.union(*(map(norm, p.secret_headers) for p in PROFILES.values()))


def _secret_folded(folded: str) -> bool:
    return folded in SECRET_NAMES or folded.endswith(SECRET_ENDINGS)


@functools.lru_cache(maxsize=4096)
def is_secret_field(name: str) -> bool:
    """A JSON field whose value is a secret (owner is Polymarket's API key); brackets in a key are literal."""
    return _secret_folded(norm(name))


@functools.lru_cache(maxsize=4096)
def is_secret_param(name: str) -> bool:
    """A query or form parameter (its name decoded) whose value is a secret. PHP and Rails read `api_key[0]`,
    `api_key[]` and `auth[token]` as an array or a nested field: the name is secret when any of its parts, or its
    parts run together (`api[key]`, as '_' and '-' are dropped), is. PHP reads '.' and ' ' in a name as '_'
    (`api.key`, `api+key`): they are dropped too ('+' as well, decoded or not)."""
    parts = BRACKETS.split(norm(name).translate(_PARAM_SEPARATORS))
    return any(_secret_folded(part) for part in (*parts, "".join(parts)) if part)


@functools.lru_cache(maxsize=4096)
def is_secret_header(name: str) -> bool:
    folded = norm(name)
    return folded in SECRET_HEADER_NAMES or folded.endswith(HEADER_ENDINGS)


def mints_credentials(exchange: str, path: str) -> bool:
    """The request's answer hands out credentials (the exchange profile's key-creation endpoints)."""
    profile = PROFILES.get(exchange)
    return bool(profile and profile.minting.search(path))


@functools.lru_cache(maxsize=4096)
def credential_header(name: str) -> str:
    """ "set-cookie", "cookie", "credential" for a secret header whose value lasts (an API key, a token), else ""."""
    folded = norm(name)
    if not is_secret_header(name) or folded.endswith(PER_REQUEST_ENDINGS):
        return ""
    if folded == "setcookie":
        return "set-cookie"
    return "cookie" if "cookie" in folded else "credential"


def set_cookie_value(header: str) -> str:
    """The value of the cookie a `Set-Cookie` header sets (quotes dropped): its first name=value pair's. Its
    attributes (Path, Domain, Expires, ...) are public, and as credentials would scrub every URL."""
    pair = header.partition(";")[0]
    name, sep, value = pair.partition("=")
    return (value if sep else name).strip().strip('"')


def may_name_secrets(data: bytes) -> bool:
    """False only when no field of this body can be secret-named: the check that keeps the hot path cheap. Brackets,
    '.', ' ' and '+' are removed with '_' and '-': a parameter's name is secret by its bracketed parts run together
    (`api[key]`), and PHP reads `api.key` as `api_key` (is_secret_param)."""
    if not data.isascii():
        return True
    return bool(_HINT_SEARCH.find_matches_as_indexes(data.translate(_FOLD, _HINT_DROPPED)))  # lowered


def may_name_secret_params(query: str) -> bool:
    """False only when no parameter of `query` can be secret-named (is_secret_param): a name may be percent-encoded."""
    return "%" in query or may_name_secrets(query.encode())


def redact_pairs(text: str, found: list[Any]) -> str:
    """`a=1&password=x` with secret-named values replaced in place; the values go to `found`."""
    pairs = text.split("&")
    for index, pair in enumerate(pairs):
        name, sep, value = pair.partition("=")
        if sep and value and value != REDACTED and is_secret_param(unquote_plus(name)):
            found.append(unquote_plus(value))
            pairs[index] = f"{name}={REDACTED}"
    return "&".join(pairs)


def redact_url(url: str, found: list[Any]) -> str:
    """`url` with secret-named query parameters redacted (the rest byte for byte)."""
    base, sep, query = url.partition("?")
    if not sep or "=" not in query or not may_name_secret_params(query):
        return url  # no parameter whose name, decoded, is secret-ish
    return f"{base}?{redact_pairs(query, found)}"


def assigns_secret(data: bytes) -> bool:
    """Text that gives a secret-ish name a value (`password: x`, `"token"=x`), or a `name=value` pair a server reading
    it as a form takes for a secret parameter (`api_key[0]=x`, `%61pi_key=x`): whatever its content type says, and
    whether or not it is a strict form (a trailing newline, a raw space), such text cannot be scrubbed with
    certainty."""
    if ASSIGNMENT.search(data):
        return True
    leaked: list[Any] = []
    if b"=" in data:
        redact_pairs(data.decode("utf-8", "replace"), leaked)
    return bool(leaked)


def shown_url(url: str) -> str:
    """`url` for a log line: the query's secret-named values redacted, as in a fixture."""
    return redact_url(url, [])


def odd_auth(value: Any, prefix: str = "") -> str | None:
    """The JSON pointer of an `auth` field holding a value outside any object of named credentials (Polymarket's
    user channel takes {"auth": {"apiKey", "secret", "passphrase"}}); None when there is none. In a string, or a
    list of strings, which part is secret has no name: such a body cannot be redacted by name with certainty."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        here = f"{prefix}/{pointer_segment(key)}"
        if isinstance(key, str) and norm(key) == "auth" and _unnamed(item):
            return here
        found = odd_auth(item, here)
        if found is not None:
            return found
    return None


def _unnamed(value: Any) -> bool:
    """A value, or a list holding one, that no field name encloses (objects are redacted by their fields' names)."""
    if isinstance(value, list):
        return any(map(_unnamed, value))
    return not isinstance(value, dict) and value not in (None, "")


def redact_body(value: Any, found: list[Any] | None = None) -> Any:
    """A copy of a parsed JSON body with secret fields replaced; secret values are appended to `found`."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if is_secret_field(key) and item not in (None, "", REDACTED):
                if found is not None:
                    found.append(item)
                out[key] = REDACTED
            else:
                out[key] = redact_body(item, found)
        return out
    if isinstance(value, list):
        return [redact_body(item, found) for item in value]
    return value


def secret_values(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(JSON pointer, value) of every string under a secret field name, at any depth."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        here = f"{prefix}/{pointer_segment(key)}"
        if isinstance(key, str) and is_secret_field(key) and isinstance(item, str):
            yield here, item
        else:
            yield from secret_values(item, here)


def is_form(text: str) -> bool:
    return FORM.fullmatch(text) is not None


def percent_encoded(value: str, keep: str, plus: bool) -> str:
    """`value` percent-encoded leaving letters, digits, "-_." and `keep` as they are (quote always keeps '~')."""
    quoted = quote_plus if plus else quote
    text = quoted(value, safe=keep, errors="surrogateescape")  # a header's bytes that were not UTF-8, as they came
    return text if "~" in keep else text.replace("~", "%7E")


def printable(text: str) -> str:
    """Header text as JSON can hold it: bytes that were not UTF-8 (kept as surrogates) become \\xNN."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def variants(value: str) -> set[str]:
    """The spellings of one credential in a body: as sent, JSON-escaped, percent-encoded by any of the common
    encoders (ENCODERS) in upper-case hex. Escapes written in lower-case hex (`%2b`, both are common and servers
    accept either), or mixing both cases, are matched by either_case. A value whose bytes are not UTF-8 is
    spelled also as a fixture's header shows it (printable: `\\xff`), which an echo or error message may hold."""
    printed = printable(value)
    return spellings(value) | (spellings(printed) if printed != value else set())


def spellings(value: str) -> set[str]:
    return {value, json_escaped(value), *(percent_encoded(value, keep, plus) for keep, plus in ENCODERS)}


def json_escaped(value: str) -> str:
    """`value` as a JSON string's text; one holding bytes that were not UTF-8 (surrogates) has none: as sent."""
    try:
        return orjson.dumps(value).decode()[1:-1]
    except TypeError:
        return value


_ESCAPE = re.compile(r"%(?:25)?[0-9A-Fa-f]{2}")  # `%252f`: a credential's own `%2f`, percent-encoded


def either_case(spelling: str) -> str:
    """A pattern of `spelling` whose escapes (`%2B`, or `%2f` in a credential holding one as it is, and `%252f`, that
    one percent-encoded) match in either case, the rest as it is. Matched in the text as it came, so a '%' just
    before the spelling (`100%ab%2b`) changes nothing."""
    out, end = [], 0
    for escape in _ESCAPE.finditer(spelling):
        digits = "".join(f"[{d.upper()}{d.lower()}]" if d.isalpha() else d for d in escape[0][1:])
        out += [re.escape(spelling[end : escape.start()]), "%", digits]
        end = escape.end()
    return "".join([*out, re.escape(spelling[end:])])


_STRUCTURE = re.compile(r'["\\,:\[\]{}\x00-\x1f]')  # no whitespace: compact JSON has it only inside strings
_NUMBER_TEXT = re.compile(r"[0-9.eE+-]*")


def plain(text: str) -> bool:
    """A spelling found in a compact JSON document's text only inside one string: it holds nothing JSON's
    structure or escapes are made of, and it is no number's text (a number may be written another way)."""
    return _STRUCTURE.search(text) is None and _NUMBER_TEXT.fullmatch(text) is None


# Searching one byte for one pattern costs about 1/200 of building an Aho-Corasick automaton for one byte of pattern
# (measured: about 0.4 ns a byte searched for each of 9 to 2,849 credential spellings, the automaton about 75 ns a
# byte of pattern to build).
BUILD_AFTER = 200


class Index:
    """Whether any of a growing set of spellings is in some bytes: those known at the last build by one Aho-Corasick
    automaton (one pass however many there are), those added since one search each. Built once those searches have
    cost about what a build does: a handful of credentials are then found in a body in a fraction of a microsecond,
    and a cookie reissued on every answer, adding spellings before every search, is not rebuilt for each."""

    __slots__ = ("_built", "_searched", "_size", "patterns")

    def __init__(self) -> None:
        self.patterns: tuple[bytes, ...] = ()
        self._size = 0  # what a build costs, in bytes of pattern
        self._built: tuple[BytesAhoCorasick | None, int] = (None, 0)  # the automaton, how many patterns it holds
        self._searched = 0  # bytes searched for one pattern, added up, since the last build

    def adding(self, patterns: tuple[bytes, ...]) -> Index:
        index = Index()
        index.patterns, index._size = self.patterns + patterns, self._size + sum(map(len, patterns))
        index._built, index._searched = self._built, self._searched
        return index

    def found_in(self, data: bytes) -> bool:
        automaton, indexed = self._built
        if automaton is not None and automaton.find_matches_as_indexes(data):
            return True
        rest = self.patterns[indexed:] if indexed else self.patterns
        if any(v in data for v in rest):
            return True
        self._searched += len(rest) * len(data)  # a race between threads miscounts, and only delays a build
        if self._searched > BUILD_AFTER * self._size and rest:
            searcher = BytesAhoCorasick(list(self.patterns), matchkind=MatchKind.LeftmostFirst)
            self._built, self._searched = (searcher, len(self.patterns)), 0
        return False


class Spellings:
    """Every spelling of the credentials known at one time, with the patterns finding them compiled on first use.
    Learning makes a new one from the last (its spellings added, nothing compiled): a long session learning a cookie
    reissued on every answer neither rebuilds nor recompiles them all per value, a burst of learns compiles once, and
    a reader on another thread (the log filter) holds one whole, never one half built."""

    __slots__ = ("_either_bytes", "_either_text", "bytes", "cased", "lowered", "plain", "texts")

    def __init__(self) -> None:
        self.texts: tuple[str, ...] = ()  # every variant, as learned
        self.bytes = Index()
        self.lowered = Index()  # every variant in lower case: where none is, no escape spells one
        self.cased = False  # a variant has an escape in upper-case hex: the either_case patterns are needed
        self.plain = True  # every variant is plain(): where one is in a JSON body's text, it is in one string
        self._either_text: re.Pattern[str] | None = None
        self._either_bytes: re.Pattern[bytes] | None = None

    def adding(self, texts: list[str]) -> Spellings:
        """These spellings and `texts` (new ones), built whole before anyone sees them."""
        encoded = tuple(text.encode("utf-8", "surrogateescape") for text in texts)
        spelled = Spellings()
        spelled.texts, spelled.bytes = self.texts + tuple(texts), self.bytes.adding(encoded)
        spelled.lowered = self.lowered.adding(tuple(text.lower() for text in encoded))
        spelled.cased = self.cased or any(map(_ESCAPE.search, texts))
        spelled.plain = self.plain and all(map(plain, texts))
        return spelled

    def found_in(self, data: bytes | str) -> bool:
        if not self.texts:  # none seen yet: no generator per message
            return False
        if isinstance(data, bytes):
            if not self.cased or b"%" not in data:
                return self.bytes.found_in(data)
            lowered = data.lower()  # one search for the variants, then the pattern only where one may be
            return self.lowered.found_in(lowered) and self.either_bytes().search(data) is not None
        if any(v in data for v in self.texts):
            return True
        if not self.cased or "%" not in data:
            return False
        try:  # as bytes, the pattern only where a variant in lower case is (a log line with an escape compiles none)
            may = self.lowered.found_in(data.encode("utf-8", "surrogateescape").lower())
        except UnicodeEncodeError:  # a surrogate no byte stands for: the pattern alone tells
            may = True
        return may and self.either_text().search(data) is not None

    def pattern(self) -> str:
        """Every variant by either_case, longest first: the alternation takes the longest spelling at each place."""
        return "|".join(map(either_case, sorted(self.texts, key=len, reverse=True)))

    def either_text(self) -> re.Pattern[str]:
        """Also scrub's occurrences (searched for again one place after each, which finds those overlapping it: as
        fast as one search, where a lookahead at every place of a 1 MB body took 60 to 230 ms against 20
        credentials)."""
        if self._either_text is None:
            self._either_text = re.compile(self.pattern())
        return self._either_text

    def either_bytes(self) -> re.Pattern[bytes]:
        if self._either_bytes is None:
            self._either_bytes = re.compile(self.pattern().encode("utf-8", "surrogateescape"))
        return self._either_bytes


class Credentials:
    """Every credential value seen in one session, to scrub wherever it appears."""

    __slots__ = ("__weakref__", "_known", "_spelled", "values")

    def __init__(self) -> None:
        self.values: set[str] = set()
        self._spelled: set[str] = set()  # every variant learned (learn alone, on the event loop, uses it)
        self._known = Spellings()

    def __bool__(self) -> bool:
        return bool(self.values)

    @property
    def plain(self) -> bool:
        """Every variant is plain(): where one is in a JSON body's text, it is in one string."""
        return self._known.plain

    def learn(self, values: Iterable[Any]) -> None:
        new = {v for v in values if isinstance(v, str) and len(v) >= MIN_CREDENTIAL and v != REDACTED} - self.values
        if new:
            spelled = dict.fromkeys(text for value in new for text in variants(value))
            texts = [text for text in spelled if text not in self._spelled]  # only the new values' own
            self._spelled.update(texts)
            self._known = self._known.adding(texts)
            self.values |= new  # only once every spelling is known: a value is never learned half way

    def learn_headers(self, headers: Any) -> None:
        """Stable credentials from auth headers: API keys, passphrases, bearer tokens, cookie values."""
        for name, value in headers.items():
            kind = credential_header(name)
            if kind == "set-cookie":
                self.learn([set_cookie_value(value)])
            elif kind and value not in self.values:
                _, _, credential = value.partition(" ")
                cookies = [part.partition("=")[2] for part in value.split(";")] if kind == "cookie" else []
                self.learn([value, credential, *cookies])

    def found_in(self, data: bytes | str) -> bool:
        return self._known.found_in(data)

    def scrub(self, text: str) -> str:
        """`text` with every credential replaced, and nothing else changed. Occurrences that overlap or touch (one
        credential's tail the next one's head, `AAAAB` and `ABBBB` in `AAAABBBB`) are replaced as one: replacing
        them one after the other would leave a piece of the second on the disk."""
        known = self._known  # one whole set of spellings, whatever another thread learns meanwhile
        if not known.found_in(text):
            return text
        spans = known.either_text()
        out: list[str] = []
        kept = 0  # where the text after the spans replaced so far starts
        match = spans.search(text)
        while match is not None:  # the longest spelling at each place where one starts, in order
            start, end = match.span()
            if start > kept or not out:  # apart from the span before: a new one
                out += [text[kept:start], REDACTED]
            kept = max(kept, end)
            match = spans.search(text, start + 1)
        return "".join([*out, text[kept:]])

    def scrub_value(self, value: Any) -> Any:
        """Every string (and key) of a parsed value, scrubbed; a number whose digits hold a credential (an API key
        of digits alone, sent back as a JSON number) is replaced whole."""
        if type(value) is str:
            return self.scrub(value)
        if type(value) is int or type(value) is float:
            return REDACTED if self.found_in(str(value)) else value
        if type(value) is dict:
            return {self.scrub(k): self.scrub_value(v) for k, v in value.items()}
        if type(value) is list:
            return [self.scrub_value(v) for v in value]
        return value


# The proxy's loggers (by name: the listener, below the recorder, cannot be handed a session's credentials).
LOGGERS = ("tradetape.proxy", "tradetape.record", "tradetape.drift", "tradetape.replay")


class LogScrub(logging.Filter):
    """Every credential of the sessions recording in this process, scrubbed from a log line (its message and
    traceback) before any handler sees it: a path, URL or error message may hold one. A session's credentials
    are dropped with it."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: weakref.WeakSet[Credentials] = weakref.WeakSet()
        self._lock = threading.Lock()  # a recorder may start on one thread while another logs

    def add(self, creds: Credentials) -> None:
        with self._lock:
            self.sessions.add(creds)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            known = [creds for creds in self.sessions if creds]
        if not known:
            return True
        message = logged_text(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)  # what a handler writes of it
        # A handler formatting the exception itself (a JSON formatter, an error tracker reading its frames' variables)
        # would show it unscrubbed: handlers get the scrubbed traceback alone, which a Formatter writes the same.
        record.exc_info = None
        for creds in known:
            message = creds.scrub(message)
            record.exc_text = record.exc_text and creds.scrub(record.exc_text)
            record.stack_info = record.stack_info and creds.scrub(record.stack_info)
        record.msg, record.args = message, None
        return True


def logged_text(record: logging.LogRecord) -> str:
    """The record's message. A call that cannot be formatted (a missing key, an argument whose str() raises) is
    shown as it was made: raised here, in a filter, it would fail the caller, not the handler."""
    try:
        return record.getMessage()
    except Exception as exc:
        text = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        return f"{text} (its arguments could not be formatted: {type(exc).__name__})"


LOG_SCRUB = LogScrub()


def scrub_logs(creds: Credentials) -> None:
    """The proxy's log lines scrubbed of `creds` from now on, for as long as they are in use."""
    LOG_SCRUB.add(creds)
    for name in LOGGERS:
        logging.getLogger(name).addFilter(LOG_SCRUB)
