from __future__ import annotations

from tests.node.raft.journal.conftest import Machine, payload


def _work(machine: Machine, durability: str) -> dict[str, object]:
    journal = machine.open(durability=durability, segment_bytes=200)
    for index in range(1, 60):
        journal.add(payload(index, 1), index, 1)
    journal.setCurrentTerm(2, "a:1")
    journal.setRaftCommitIndex(30)
    journal.onOneSecondTimer()
    journal.deleteEntriesFrom(50)
    journal.deleteEntriesTo(20)
    journal.flush(timeout=10)
    status = journal.describe()
    machine.shutdown()
    reopened = machine.open(durability=durability)
    assert (reopened.getCurrentTerm(), len(reopened)) == (2, 30)
    machine.shutdown()
    return status


def test_none_mode_never_syncs(machine: Machine) -> None:
    status = _work(machine, "none")
    assert machine.disk.syncs.total == 0
    assert status["durability"] == "none" and status["power_cut_safe"] is False
    assert "power cut" in str(status["warning"])
    assert status["fsync_latency_s"]["count"] == 0  # type: ignore[index]


def test_fsync_mode_says_so_and_measures_its_syncs(machine: Machine) -> None:
    status = _work(machine, "fsync")
    assert machine.disk.syncs.fdatasync > 0 and machine.disk.syncs.fsync_dir > 0
    assert status["durability"] == "fsync" and status["power_cut_safe"] is True
    assert "warning" not in status
    assert status["fsync_latency_s"]["count"] > 0  # type: ignore[index]
    assert status["durable_index"] == status["last_index"] == 50
