"""`lithair check --data-dir` on the data dir of a real (single-node, in process) replica:
intact, with a torn tail, with a bit flip in the middle, and a legacy journal migrated."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from pysyncobj.journal import FileJournal

from lithair_node.cli import cli
from lithair_node.lab.local_cluster import free_ports
from lithair_node.machine.state import StateMachine
from lithair_node.node.config import NodeConfig
from lithair_node.node.raft.journal import DurableJournal
from lithair_node.node.raft.legacy_journal import migrate_legacy_journal
from lithair_node.node.raft.raft_node import RaftNode
from lithair_node.polling import wait_until
from tests.node.raft.test_recovery_journal import _write


def _run_node_and_stop(data_dir: Path, batches: int) -> RaftNode:
    config = NodeConfig(node_id="solo", http_host="127.0.0.1", http_port=8000,
                        raft_address=f"127.0.0.1:{free_ports(1)[0]}", peers=(),
                        data_dir=data_dir, raft_password="test-password")
    node = RaftNode(config, StateMachine())
    node.start()
    try:
        wait_until(lambda: node.status().is_leader and node.status().ready, 20, what="leadership")
        for batch in range(batches):
            _write(node, batch)
    finally:
        node.stop()
    return node


def _check(data_dir: Path) -> tuple[int, dict, str]:
    runner = CliRunner()
    as_json = runner.invoke(cli, ["check", "--data-dir", str(data_dir), "--json"])
    text = runner.invoke(cli, ["check", "--data-dir", str(data_dir)])
    assert as_json.exit_code == text.exit_code, text.output
    return as_json.exit_code, json.loads(as_json.output), text.output


def _segment(data_dir: Path) -> Path:
    segments = sorted((data_dir / "journal").glob("*.seg"))
    assert len(segments) == 1
    return segments[0]


def test_check_reports_an_intact_journal(tmp_path: Path) -> None:
    _run_node_and_stop(tmp_path, batches=6)
    code, report, text = _check(tmp_path)
    journal = report["journal"]
    assert code == 0 and report["ok"] and report["damage"] == [] == report["repairable"]
    # NO_OP, the leader's no-op of term 1, the announce entry, 6 batches.
    assert journal["first_index"] == 1 and journal["last_index"] >= 8
    assert journal["durable_index"] == journal["last_index"]
    assert journal["term"] >= 1 and journal["voted_for"] is not None
    assert report["snapshot"]["exists"] is False
    assert "segment" in text and f"term        {journal['term']}" in text and "ok" in text


def test_a_torn_tail_is_repairable_and_a_bit_flip_in_the_middle_is_damage(tmp_path: Path) -> None:
    _run_node_and_stop(tmp_path, batches=6)
    segment = _segment(tmp_path)
    data = segment.read_bytes()
    segment.write_bytes(data[:-3])  # the last record torn
    code, report, text = _check(tmp_path)
    assert code == 0 and report["repairable"] and "repairable" in text

    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0x10
    segment.write_bytes(bytes(flipped))
    code, report, text = _check(tmp_path)
    assert code == 1 and not report["ok"]
    assert str(segment) in report["damage"][0] and "DAMAGE" in text


def test_a_legacy_pysyncobj_journal_is_migrated_once(tmp_path: Path) -> None:
    legacy = tmp_path / "raft.journal"
    old = FileJournal(str(legacy))
    for index in range(1, 6):
        old.add(f"entry {index}".encode(), index, 2)
    old.setCurrentTerm(3, "127.0.0.1:9001")
    old._destroy()
    journal = DurableJournal(tmp_path / "journal")
    try:
        assert migrate_legacy_journal(legacy, journal)
        assert [entry[1] for entry in journal[:]] == [1, 2, 3, 4, 5]
        assert journal[4][0] == b"entry 5"
        assert (journal.getCurrentTerm(), journal.getVotedForNodeId()) == (3, "127.0.0.1:9001")
        assert journal.durable_index == 5
        assert not legacy.exists() and legacy.with_name("raft.journal.migrated").exists()
        assert not migrate_legacy_journal(legacy, journal)
    finally:
        journal.close()
