"""What `lithair check` will print, read-only."""

from __future__ import annotations

from pathlib import Path

from lithair_node.node.raft.journal import DurableJournal, inspect_journal
from lithair_node.node.raft.journal.records import HEADER_BYTES


def _journal(directory: Path) -> None:
    journal = DurableJournal(directory, segment_bytes=300)
    for index in range(1, 21):
        journal.add(b"x" * 40, index, 2)
    journal.setCurrentTerm(3, "b:2")
    journal.deleteEntriesTo(10)  # compaction drops whole segments
    journal.close()


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir()}


def test_a_healthy_journal(tmp_path: Path) -> None:
    _journal(tmp_path)
    report = inspect_journal(tmp_path)
    assert (report["first_index"], report["last_index"], report["durable_index"]) == (11, 20, 20)
    assert (report["term"], report["voted_for"], report["ok"], report["damage"]) == (3, "b:2", True, [])
    assert report["segments"][-1]["last_index"] == 20
    assert report["segments"][0]["first_index"] <= 11


def test_damage_is_reported_and_nothing_is_repaired(tmp_path: Path) -> None:
    _journal(tmp_path)
    first = sorted(tmp_path.glob("*.seg"))[0]
    content = bytearray(first.read_bytes())
    content[20] ^= 0x10
    first.write_bytes(bytes(content))
    before = _files(tmp_path)
    report = inspect_journal(tmp_path)
    assert report["ok"] is False
    assert report["damage"][0]["kind"] == "corrupt" and report["damage"][0]["file"] == str(first)
    assert _files(tmp_path) == before


def test_a_torn_tail_is_reported_but_ok(tmp_path: Path) -> None:
    _journal(tmp_path)
    last = sorted(tmp_path.glob("*.seg"))[-1]
    # Past the compaction mark (the last record) into entry 20.
    last.write_bytes(last.read_bytes()[:-(HEADER_BYTES + 5)])
    report = inspect_journal(tmp_path)
    assert report["ok"] is True and report["damage"][0]["kind"] == "torn_tail"
    assert report["last_index"] == report["durable_index"] == 19


def test_no_journal_yet(tmp_path: Path) -> None:
    report = inspect_journal(tmp_path / "absent")
    assert report["exists"] is False and report["segments"] == [] and report["ok"] is True
