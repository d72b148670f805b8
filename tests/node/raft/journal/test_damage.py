"""Damage on the real disk: a torn tail is cut off cleanly, anything else is refused with the
file and byte offset; the journal never returns an entry that was not written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lithair_node.node.raft.journal import DurableJournal, JournalCorrupt
from lithair_node.node.raft.journal.records import HEADER_BYTES, MAGIC, read_records
from tests.node.raft.journal.conftest import payload

ENTRIES = [(payload(index, 1 + index // 10, size=30 + index), index, 1 + index // 10)
           for index in range(1, 41)]


def _write_journal(directory: Path) -> list[Path]:
    journal = DurableJournal(directory, segment_bytes=600)
    for entry in ENTRIES:
        journal.add(*entry)
    journal.close()
    return sorted(directory.glob("*.seg"))


def _open_or_refusal(directory: Path) -> list[tuple[bytes, int, int]] | JournalCorrupt:
    try:
        journal = DurableJournal(directory)
    except JournalCorrupt as refusal:
        return refusal
    entries = journal[:]
    journal.close()
    return entries


def test_a_missing_or_empty_journal_is_a_fresh_start(tmp_path: Path) -> None:
    for directory in (tmp_path / "never-made", tmp_path / "empty"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        journal = DurableJournal(directory)
        assert len(journal) == 0 and journal.getCurrentTerm() == 0
        journal.close()


@pytest.mark.parametrize("content", [b"", MAGIC[:3], bytes(len(MAGIC)), bytes(4096)],
                         ids=["0-bytes", "torn-magic", "zeros", "zero-filled-block"])
def test_a_segment_created_but_never_written_is_a_fresh_start(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "00000000000000000001.seg").write_bytes(content)
    journal = DurableJournal(tmp_path)
    assert len(journal) == 0 and journal.repaired is not None
    journal.add(b"first", 1, 1)
    journal.close()
    assert _open_or_refusal(tmp_path) == [(b"first", 1, 1)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(1, 100))
def test_a_torn_tail_is_cut_at_the_last_whole_record(tmp_path_factory: pytest.TempPathFactory,
                                                     cut: int) -> None:
    directory = tmp_path_factory.mktemp("torn")
    last = _write_journal(directory)[-1]
    data = last.read_bytes()
    last_record_size = HEADER_BYTES + len(ENTRIES[-1][0])
    kept = len(data) - max(1, cut * last_record_size // 100)
    last.write_bytes(data[:kept])
    assert _open_or_refusal(directory) == ENTRIES[:-1]
    assert os.path.getsize(last) == len(data) - last_record_size  # repaired on disk
    journal = DurableJournal(directory)
    journal.add(*ENTRIES[-1])  # appending after the repair leaves a clean journal
    journal.close()
    assert _open_or_refusal(directory) == ENTRIES


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_flipped_bit_recovers_cleanly_or_is_refused_by_name(
        tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    directory = tmp_path_factory.mktemp("flip")
    segments = _write_journal(directory)
    segment = data.draw(st.sampled_from(segments))
    content = bytearray(segment.read_bytes())
    position = data.draw(st.integers(0, len(content) - 1))
    content[position] ^= 1 << data.draw(st.integers(0, 7))
    segment.write_bytes(bytes(content))

    outcome = _open_or_refusal(directory)
    if isinstance(outcome, JournalCorrupt):
        assert str(segment) in str(outcome) and outcome.damage.offset <= position
        assert f"byte {outcome.damage.offset}" in str(outcome)
    else:
        # Only the last record of the last segment may go, as a torn tail.
        assert segment == segments[-1] and outcome == ENTRIES[:-1]


def test_damage_in_the_middle_is_refused_even_in_the_last_segment(tmp_path: Path) -> None:
    last = _write_journal(tmp_path)[-1]
    content = bytearray(last.read_bytes())
    damaged = list(read_records(bytes(content)))[-2]  # a record followed by one more
    content[damaged.offset + HEADER_BYTES] ^= 0xFF
    last.write_bytes(bytes(content))
    refusal = _open_or_refusal(tmp_path)
    assert isinstance(refusal, JournalCorrupt)
    assert refusal.damage.offset == damaged.offset and "CRC32C" in str(refusal)


def test_a_damaged_segment_header_with_records_behind_it_is_refused(tmp_path: Path) -> None:
    last = _write_journal(tmp_path)[-1]
    last.write_bytes(b"garbage!" + last.read_bytes()[len(MAGIC):])
    refusal = _open_or_refusal(tmp_path)
    assert isinstance(refusal, JournalCorrupt) and refusal.damage.offset == 0


def test_an_unreadable_term_file_is_refused(tmp_path: Path) -> None:
    journal = DurableJournal(tmp_path)
    journal.setCurrentTerm(4, "a:1")
    journal.close()
    (tmp_path / "term-vote.json").write_bytes(b'{"term": 4, "vot')
    refusal = _open_or_refusal(tmp_path)
    assert isinstance(refusal, JournalCorrupt) and "term-vote.json" in str(refusal)
