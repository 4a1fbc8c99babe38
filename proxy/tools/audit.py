"""`tradetape audit`: find secrets that escaped redaction in fixture trees, and optionally redact them.

It applies the rules recording applies (proxy.tape.secrets: secret-named headers, fields, query and form
parameters at any depth; bodies with no single reading, such as duplicate keys, NaN, a BOM or NDJSON;
text that assigns a secret-ish name), plus what only a reader of a finished tree can check: PEM blocks,
64-hex values under key-ish names, duplicate keys in the file itself, and every value found under a
secret name anywhere in the tree, wherever else it appears. Order ids, hashes, market ids and
zero-filled bytes32 values are public and never flagged. The project's published paper-only keys
(proxy/tools/paper_keys.py) pass in docs and code, never in a session's files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from proxy.tape.compact import deferrable, deferred_bodies
from proxy.tape.fixture import MANIFEST, MAX_ENDPOINT, SECRET_ENDPOINT, fixture_seq
from proxy.tape.journal import JOURNAL, Contents, Record, read_journal
from proxy.tape.redact import NOT_JSON, read_json
from proxy.tape.schema import FRAMES_SUFFIX, FixtureError
from proxy.tape.secrets import (
    ASSIGNMENT,
    REDACTED,
    Credentials,
    assigns_secret,
    is_form,
    is_secret_field,
    is_secret_header,
    redact_pairs,
    redact_url,
)
from proxy.tools.paper_keys import is_paper_only

PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)", re.S)
HEX64 = re.compile(r"^(?:0x)?[0-9a-fA-F]{64}$")
KEYISH = re.compile(r"key|private|secret", re.I)
HEX_IN_TEXT = re.compile(r"(?<![0-9a-zA-Z])(?:0x)?[0-9a-fA-F]{64}(?![0-9a-zA-Z])")
URL_WITH_QUERY = re.compile(r"(?:https?://|/)[^?\s]*\?\S*=")
BODY_KEYS = {"request": "body", "response": "body_raw"}


@dataclass(frozen=True)
class Finding:
    file: Path
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


def looks_like_key(name: str, value: Any) -> bool:
    return (
        isinstance(value, str)
        and bool(KEYISH.search(name))
        and bool(HEX64.match(value))
        and value.lower().removeprefix("0x").strip("0") != ""
    )


def hidden(value: Any) -> bool:
    return value in (REDACTED, None, "")


# ---- finding ------------------------------------------------------------------------------------


class Scan:
    """The findings of one file, and the secret values it holds under secret names (for the by-value pass)."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []
        self.secrets: list[Any] = []

    def flag(self, where: str, reason: str, value: Any = None) -> None:
        self.found.append((where, reason))
        if value is not None:
            self.secrets.append(value)

    def value(self, value: Any, where: str, headers: bool = False) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                here = f"{where}.{key}" if where else str(key)
                secret_name = is_secret_header(key) if headers else is_secret_field(key)
                if secret_name and not hidden(item):
                    self.flag(here, f"secret {'header' if headers else 'field'} is not redacted", item)
                elif looks_like_key(key, item):
                    self.flag(here, "64-hex value under a key/private/secret field", item)
                else:
                    self.value(item, here)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.value(item, f"{where}[{index}]")
        elif isinstance(value, str):
            self.string(value, where)

    def string(self, value: str, where: str) -> None:
        if PEM.search(value):
            self.flag(where, "PEM block")
        if URL_WITH_QUERY.match(value):
            leaked: list[Any] = []
            redact_url(value, leaked)
            if leaked:
                self.flag(where, "secret query parameter is not redacted", None)
                self.secrets += leaked

    def text_body(self, text: str, where: str) -> None:
        """A body stored as text: a form is checked by field name; other text must assign no secret-ish name."""
        leaked: list[Any] = []
        if is_form(text):
            redact_pairs(text, leaked)
            if leaked:
                self.flag(where, "secret form field is not redacted")
                self.secrets += leaked
        elif assigns_secret(text.encode("utf-8", "surrogateescape")):
            self.flag(where, "text body assigns a secret-ish name, so it cannot be checked")

    def part(self, section: dict[str, Any], name: str) -> None:
        """request or response: headers by header rules, bodies as recording reads them."""
        self.value(section.get("headers", {}), f"{name}.headers", headers=True)
        key = BODY_KEYS[name]
        body = section.get(key)
        rest = {k: v for k, v in section.items() if k != "headers" and not (k == key and isinstance(body, str))}
        self.value(rest, name)
        if isinstance(body, str) and section.get("body_encoding") != "base64":
            self.body_text(body, f"{name}.{key}", raw=name == "response")

    def body_text(self, body: str, where: str, raw: bool) -> None:
        parsed, problem = read_json(body.encode("utf-8", "surrogateescape"))
        if problem is not None:
            self.flag(where, problem.replace("could not be", "cannot be"))
        elif parsed is NOT_JSON:
            self.text_body(body, where)
        elif raw:
            self.value(parsed, where)
        else:
            self.string(body, where)

    def fixture(self, data: Any) -> None:
        if not isinstance(data, dict):
            self.value(data, "")
            return
        for name in ("request", "response"):
            if isinstance(data.get(name), dict):
                self.part(data[name], name)
        self.value({k: v for k, v in data.items() if k not in ("request", "response")}, "")


class _Duplicates(list[str]):
    """Keys a JSON file holds twice in one object, with the values a reader other than orjson would take."""

    def hook(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                self.append(key)
                self.append(json.dumps(seen[key]) if not isinstance(seen[key], str) else seen[key])
            seen[key] = value
        return seen


def duplicates(text: bytes) -> list[tuple[str, str]]:
    """(key, earlier value) for each key a JSON object of the file holds twice."""
    found = _Duplicates()
    try:
        json.loads(text.decode("utf-8", "surrogateescape"), object_pairs_hook=found.hook)
    except ValueError:
        return []
    return list(zip(found[::2], found[1::2], strict=True))


def entries(path: Path) -> list[tuple[Path, bytes, bool]]:
    """(name, bytes, whether JSON) of what one file holds to scan: the file, or each fixture of a session
    journal, named `journal.tape (NNN_….json)`, and each body a record holds as it came (a journal that does
    not read as one is scanned as text)."""
    if path.name == JOURNAL:
        try:
            contents = read_journal(path)
        except ValueError:
            contents = None
        if contents is not None:
            try:
                return [entry for r in contents.records for entry in journal_entries(path, contents, r)]
            except FixtureError:  # a record that does not expand: every byte of the journal is scanned as text
                pass
            finally:
                contents.close()
    return [(path, path.read_bytes(), path.suffix == ".json")]


def journal_entries(path: Path, contents: Contents, record: Record) -> list[tuple[Path, bytes, bool]]:
    """A journal record's fixture, and the bodies it holds unparsed: expanding redacts them, the disk has them as
    they are. A body the recorder would not have deferred (compact.deferrable) is read as JSON, so what it names
    is found (or that it is no JSON); one it would have is read as JSON when it is some (text when not)."""
    raw = bytes(contents.data[record.offset : record.offset + record.length])
    out = [(path.parent / f"{JOURNAL} ({record.name})", contents.fixture(record), True)]
    for where, body in deferred_bodies(raw):
        as_json = not deferrable(body) or parses(body)
        out.append((path.parent / f"{JOURNAL} ({record.name} {where} body)", body, as_json))
    return out


def parses(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def in_session(path: Path) -> bool:
    """A fixture, a manifest, or any file of a session directory: no key belongs there, paper-only or not."""
    return (
        fixture_seq(path.name) is not None
        or path.name == MANIFEST
        or (path.parent / MANIFEST).exists()
        or (path.parent / JOURNAL).exists()
    )


def without_paper_keys(text: str) -> tuple[str, int]:
    """`text` with the published paper-only keys taken out (they stay flagged in sessions), and how many."""
    count = 0

    def drop(match: re.Match[str]) -> str:
        nonlocal count
        if not is_paper_only(match.group(0)):
            return match.group(0)
        count += 1
        return ""

    text = PEM.sub(drop, text)
    return HEX_IN_TEXT.sub(drop, text), count


def frames_data(text: bytes) -> list[Any]:
    """A frames file as audit reads it: one item per line, a JSON payload parsed (a secret in it is a field)."""
    lines: list[Any] = []
    for raw in text.splitlines():
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            lines.append(raw.decode("utf-8", "replace"))  # a line cut short by a crash: scanned as text
            continue
        if isinstance(line, dict) and isinstance(line.get("text"), str):
            parsed, problem = read_json(line["text"].encode("utf-8", "surrogateescape"))
            if problem is None and parsed is not NOT_JSON:
                line = {**line, "text": parsed}
        lines.append(line)
    return lines


def scan_frames(text: bytes, scan: Scan) -> list[Any]:
    data = frames_data(text)
    for number, line in enumerate(data, start=1):
        if isinstance(line, dict):
            scan.value(line.get("text"), f"line {number}.text")
        elif PEM.search(line):
            scan.flag(f"line {number}", "PEM block")
    return data


def scan_file(
    path: Path, text: bytes, as_json: bool, allowed: list[Path] | None = None
) -> tuple[list[Finding], list[Any], Any]:
    """Findings, secret values under secret names, and the parsed data (None for a file that is not JSON).
    A doc or code file that holds paper-only keys is scanned without them and appended to `allowed`."""
    if not in_session(path):
        stripped, count = without_paper_keys(text.decode("utf-8", "surrogateescape"))
        if count:
            text = stripped.encode("utf-8", "surrogateescape")
            if allowed is not None:
                allowed.append(path)
    scan = Scan()
    data: Any = None
    if path.name.endswith(FRAMES_SUFFIX):
        data = scan_frames(text, scan)
        return [Finding(path, where, reason) for where, reason in scan.found], scan.secrets, data
    if as_json:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            scan.flag("(file)", f"not valid JSON (line {exc.lineno}), scanned as text")
    if data is None:
        if PEM.search(text.decode("utf-8", "replace")):
            scan.flag("(file)", "PEM block")
        if path.name == JOURNAL and ASSIGNMENT.search(text):  # one that does not read as records of fixtures
            scan.flag("(file)", "a journal read as text assigns a secret-ish name, so it cannot be checked")
    else:
        for key, earlier in duplicates(text):
            scan.flag("(file)", f"key {key!r} appears twice in one object: readers may take either value")
            if is_secret_field(key) or is_secret_header(key):
                scan.secrets.append(earlier)
        scan.fixture(data)
    return [Finding(path, where, reason) for where, reason in scan.found], scan.secrets, data


def strings(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, f"{where}[{index}]")
    elif isinstance(value, str):
        yield where, value


def by_value(path: Path, text: bytes, data: Any, creds: Credentials, flagged: set[str]) -> list[Finding]:
    """Places in a file where a secret found elsewhere in the tree appears under a plain name."""
    if data is None:
        held = creds.found_in(text.decode("utf-8", "replace"))
        return [Finding(path, "(file)", "holds a secret value found elsewhere in the tree")] if held else []
    out = []
    for where, value in strings(data):
        if creds.found_in(value) and not any(where.startswith(done) or done.startswith(where) for done in flagged):
            out.append(Finding(path, where, "holds a secret value found elsewhere in the tree"))
    return out


def audit_tree(
    files: list[Path], allowed: list[Path] | None = None, known: Credentials | None = None
) -> tuple[list[Finding], Credentials]:
    """Findings, and every secret value found (with `known`: those are looked for too, as after --redact, when
    the files no longer show them under secret names)."""
    findings: list[Finding] = []
    creds = Credentials() if known is None else known
    scanned = []
    for name, text, as_json in (entry for path in files for entry in entries(path)):
        found, secrets, data = scan_file(name, text, as_json, allowed)
        findings += found + named_apart(name, data)
        creds.learn(secrets)
        scanned.append((name, text, data, {f.field for f in found}))
    if creds:
        for name, text, data, flagged in scanned:
            findings += named_by_secret(name, creds) + by_value(name, text, data, creds, flagged)
    return findings, creds


JOURNAL_RECORD = re.compile(r"\((.+)\)$")  # entries() names a journal record `journal.tape (<file name>)`


def named_apart(path: Path, data: Any) -> list[Finding]:
    """A fixture whose name's endpoint is no segment of its recorded URL's path (nor `root`, nor `redacted`).
    The recorder names a fixture from the path as sent and scrubs credentials from the URL it stores: a name
    the stored URL does not give may hold what was scrubbed."""
    named = recorder_endpoint(path, data)
    if named is None:
        return []
    endpoint, url = named
    try:
        url_path = urlsplit(url).path
    except ValueError:  # "http://[": not the recorder's (its URLs parse), so the name is not vouched for
        return [Finding(path, "(file name)", "the recorded URL does not parse, so the name cannot be checked")]
    segments = {part[:MAX_ENDPOINT].replace("-", "_") for part in url_path.split("/")}
    if endpoint in segments or endpoint in ("root", SECRET_ENDPOINT):
        return []
    why = f"{endpoint!r} is no segment of the recorded URL's path: it may hold what was redacted there; rename the file"
    return [Finding(path, "(file name)", why)]


def recorder_endpoint(path: Path, data: Any) -> tuple[str, str] | None:
    """(the endpoint in a fixture's name, its recorded URL) when the name starts as the recorder's do (seq,
    method, exchange); None for a name made by hand, or a fixture without those fields."""
    found = JOURNAL_RECORD.search(path.name) if path.name.startswith(JOURNAL) else None
    name = found.group(1) if found else path.name
    seq, request = fixture_seq(name), data.get("request") if isinstance(data, dict) else None
    if seq is None or not isinstance(request, dict):
        return None
    url, method, exchange = request.get("url"), request.get("method"), data.get("exchange")
    if not (isinstance(url, str) and isinstance(method, str) and isinstance(exchange, str)):
        return None
    prefix = f"{seq:03d}_{method.upper()}_{exchange}_"
    if not (name.startswith(prefix) and name.endswith(".json")):
        return None
    return name[len(prefix) : -len(".json")], url


def named_by_secret(path: Path, creds: Credentials) -> list[Finding]:
    """A file (or journal record) whose name holds a secret found in the tree: a request's path may carry a
    credential (`GET /keys/<key>`), and a fixture's name is made from its path. --redact leaves it: a name is
    referenced from elsewhere (the manifest, a handshake's frames file), so it is renamed by hand. A name writes
    a path's '-' as '_' (fixture.endpoint_name): a secret is looked for so spelt too."""
    folded = path.name.replace("-", "_")
    if not (creds.found_in(path.name) or any(value.replace("-", "_") in folded for value in creds.values)):
        return []
    return [Finding(path, "(file name)", "holds a secret value found elsewhere in the tree: rename the file")]


def audit_file(path: Path) -> list[Finding]:
    return audit_tree([path])[0]


def tree_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            yield path


# ---- redacting ----------------------------------------------------------------------------------


def redact_value(value: Any, headers: bool = False) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            secret = is_secret_header(key) if headers else is_secret_field(key)
            out[key] = REDACTED if (secret and not hidden(item)) or looks_like_key(key, item) else redact_value(item)
        return out
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, str):
        value = PEM.sub(REDACTED, value)
        return redact_url(value, []) if URL_WITH_QUERY.match(value) else value
    return value


def redact_body_text(section: dict[str, Any], key: str, raw: bool) -> None:
    """A text body as recording would have stored it: redacted JSON, a redacted form, or omitted."""
    body = section[key]
    parsed, problem = read_json(body.encode("utf-8", "surrogateescape"))
    if parsed is not NOT_JSON and problem is None:
        if raw:
            section[key] = orjson.dumps(redact_value(parsed)).decode()
        return
    if problem is None and is_form(body):
        section[key] = redact_pairs(body, [])
        return
    if problem is None and not assigns_secret(body.encode("utf-8", "surrogateescape")):
        return
    section[key] = None
    if raw:
        section["body_parsed"] = None
    section["body_omitted"] = (problem or "a text body that assigns a secret-ish name") + " (removed by audit --redact)"


def redact_fixture(data: Any, creds: Credentials) -> Any:
    if not isinstance(data, dict):
        return creds.scrub_value(redact_value(data))
    out = redact_value({k: v for k, v in data.items() if k not in ("request", "response")})
    for part, key in BODY_KEYS.items():
        section = data.get(part)
        if not isinstance(section, dict):
            continue
        fixed = redact_value({k: v for k, v in section.items() if k not in ("headers", key)})
        fixed["headers"] = redact_value(section.get("headers", {}), headers=True)
        fixed[key] = section.get(key) if isinstance(section.get(key), str) else redact_value(section.get(key))
        if isinstance(fixed[key], str) and section.get("body_encoding") != "base64":
            redact_body_text(fixed, key, raw=part == "response")
        out[part] = {k: fixed[k] for k in [*section, *fixed] if k in fixed}  # keep the key order, new keys last
    return creds.scrub_value({k: out[k] for k in data})


def redact_frames(text: bytes, creds: Credentials) -> bytes:
    """A frames file with each message's payload redacted as a fixture body is (a torn last line as text)."""
    out = []
    for raw, line in zip(text.splitlines(keepends=True), frames_data(text), strict=True):
        if not isinstance(line, dict):
            out.append(creds.scrub(PEM.sub(REDACTED, raw.decode("utf-8", "replace"))).encode())
            continue
        payload = line.get("text")
        if isinstance(payload, str):
            line["text"] = creds.scrub(PEM.sub(REDACTED, payload))
        elif "text" in line:
            line["text"] = orjson.dumps(creds.scrub_value(redact_value(payload))).decode()
        line = creds.scrub_value(line)  # the other fields too: a close reason is free text
        out.append(orjson.dumps(line) + (b"\n" if raw.endswith(b"\n") else b""))
    return b"".join(out)


def redact_file(path: Path, creds: Credentials) -> None:
    if path.name.endswith(FRAMES_SUFFIX):
        path.write_bytes(redact_frames(path.read_bytes(), creds))
        return
    if path.suffix == ".json":
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            data = None
        if data is not None:
            path.write_bytes(orjson.dumps(redact_fixture(data, creds), option=orjson.OPT_INDENT_2))
            return
    path.write_text(creds.scrub(PEM.sub(REDACTED, path.read_text("utf-8", "replace"))))
