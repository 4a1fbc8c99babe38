"""The session journal format: whole records read back byte for byte, torn ends and damage found, one writer."""

from __future__ import annotations

import os

import orjson
import pytest

from proxy.tape.fixture import FixtureError
from proxy.tape.journal import JOURNAL, MAGIC, JournalBusy, JournalFile, read_journal, record_bytes
from proxy.tape.stored import session_fixtures


def fixture_bytes(seq: int, text: str = "x") -> bytes:
    fixture = {
        "seq": seq,
        "exchange": "kalshi",
        "request": {"method": "GET", "url": f"https://h/p?i={seq}"},
        "response": {"status": 200, "headers": {}, "body_raw": text, "body_parsed": None},
    }
    return orjson.dumps(fixture, option=orjson.OPT_INDENT_2)


def write_journal(directory, count: int) -> JournalFile:
    journal = JournalFile(directory / JOURNAL)
    journal.restart()
    for seq in range(1, count + 1):
        journal.append(record_bytes(f"{seq:03d}_GET_kalshi_p.json", fixture_bytes(seq)))
    return journal


def test_records_read_back_byte_for_byte_in_order(tmp_path):
    write_journal(tmp_path, 3).close()
    contents = read_journal(tmp_path / JOURNAL)
    names = ["001_GET_kalshi_p.json", "002_GET_kalshi_p.json", "003_GET_kalshi_p.json"]
    assert [r.name for r in contents.records] == names
    assert [contents.fixture(r) for r in contents.records] == [fixture_bytes(1), fixture_bytes(2), fixture_bytes(3)]
    assert contents.torn == 0 and contents.damage() == []


def test_no_journal_reads_as_none(tmp_path):
    assert read_journal(tmp_path / JOURNAL) is None


@pytest.mark.parametrize("cut", [1, 10, 60, -2, -1])
def test_a_torn_end_is_no_record_and_no_damage(tmp_path, cut):
    write_journal(tmp_path, 2).close()
    path = tmp_path / JOURNAL
    whole = path.read_bytes()
    last = whole.rindex(b"@ 2")  # nothing else in the journal reads "@ 2": the last record's header
    path.write_bytes(whole[: last + cut] if cut > 0 else whole[:cut])
    contents = read_journal(path)
    assert [r.name for r in contents.records] == ["001_GET_kalshi_p.json"]
    assert contents.torn == len(path.read_bytes()) - last and contents.damage() == []


def test_a_header_cut_short_is_a_torn_end(tmp_path):
    (tmp_path / JOURNAL).write_bytes(MAGIC[:7])
    contents = read_journal(tmp_path / JOURNAL)
    assert contents.records == [] and contents.torn == 7


def test_a_damaged_record_is_reported_and_the_records_after_it_are_kept(tmp_path):
    write_journal(tmp_path, 3).close()
    path = tmp_path / JOURNAL
    data = bytearray(path.read_bytes())
    second = data.index(b'"seq": 2')
    data[second + 7] = ord("7")  # one flipped byte: its CRC no longer matches
    path.write_bytes(bytes(data))
    contents = read_journal(path)
    assert [r.name for r in contents.records] == ["001_GET_kalshi_p.json", "003_GET_kalshi_p.json"]
    assert len(contents.damage()) == 1 and "damaged" in contents.damage()[0]
    damaged = r"journal.tape: bytes 270-519 are no whole record \(damaged\); run `tradetape fsck`"
    with pytest.raises(FixtureError, match=damaged):
        session_fixtures(tmp_path)


def test_a_record_naming_no_fixture_file_is_damage(tmp_path):
    journal = write_journal(tmp_path, 1)
    journal.append(record_bytes("../../etc/passwd", b"{}"))
    journal.append(record_bytes("manifest.json", b"{}"))
    journal.append(record_bytes("002_GET_kalshi_p.json", fixture_bytes(2)))
    journal.close()
    contents = read_journal(tmp_path / JOURNAL)
    assert [r.name for r in contents.records] == ["001_GET_kalshi_p.json", "002_GET_kalshi_p.json"]
    assert len(contents.damage()) == 1


def test_a_file_that_is_not_a_journal_is_refused_by_name(tmp_path):
    (tmp_path / JOURNAL).write_bytes(b'{"not": "a journal"}')
    with pytest.raises(FixtureError, match=r"journal.tape: not a tradetape journal"):
        session_fixtures(tmp_path)


def test_one_writer_at_a_time(tmp_path):
    first = JournalFile(tmp_path / JOURNAL)
    with pytest.raises(JournalBusy, match="held by another tradetape process"):
        JournalFile(tmp_path / JOURNAL)
    first.close()
    JournalFile(tmp_path / JOURNAL).close()


def test_a_short_write_is_cut_back_so_the_next_record_follows_whole_records(tmp_path, monkeypatch):
    journal = write_journal(tmp_path, 1)
    real_write = os.write
    calls = []

    def half_then_full(fd: int, data: bytes) -> int:  # a nearly full disk: part of it, then ENOSPC
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        journal.append(record_bytes("002_GET_kalshi_p.json", fixture_bytes(2)))
    monkeypatch.setattr(os, "write", real_write)
    journal.append(record_bytes("002_GET_kalshi_p.json", fixture_bytes(2, "again")))
    journal.close()
    contents = read_journal(tmp_path / JOURNAL)
    assert len(calls) == 2
    assert [contents.fixture(r) for r in contents.records] == [fixture_bytes(1), fixture_bytes(2, "again")]
    assert contents.damage() == [] and contents.torn == 0


def test_session_fixtures_take_the_journal_copy_and_the_files_in_seq_order(tmp_path):
    write_journal(tmp_path, 2).close()
    (tmp_path / "002_GET_kalshi_p.json").write_bytes(b"stale")  # the journal is the truth while it exists
    (tmp_path / "1000_GET_kalshi_p.json").write_bytes(fixture_bytes(1000))
    (tmp_path / "999_GET_kalshi_p.json").write_bytes(fixture_bytes(999))
    stored = session_fixtures(tmp_path)
    assert [s.path.name for s in stored] == [
        "001_GET_kalshi_p.json",
        "002_GET_kalshi_p.json",
        "999_GET_kalshi_p.json",
        "1000_GET_kalshi_p.json",
    ]
    assert [s.load()["seq"] for s in stored] == [1, 2, 999, 1000]
    assert str(stored[1].where) == f"{tmp_path / JOURNAL} (002_GET_kalshi_p.json)"
    assert stored[2].where == tmp_path / "999_GET_kalshi_p.json"


def test_a_journal_record_that_is_not_a_fixture_is_named_by_journal_and_file(tmp_path):
    journal = JournalFile(tmp_path / JOURNAL)
    journal.restart()
    journal.append(record_bytes("001_GET_kalshi_p.json", b'{"seq": 1}'))
    journal.close()
    with pytest.raises(FixtureError, match=r"journal.tape \(001_GET_kalshi_p.json\): missing key exchange"):
        session_fixtures(tmp_path)[0].load()
