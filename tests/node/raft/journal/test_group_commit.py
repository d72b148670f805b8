"""The Raft thread never waits for the disk; one fdatasync covers every entry queued meanwhile;
the durable index says what is on disk and only then tells its listeners."""

from __future__ import annotations

import contextlib
import random
import threading

from lithair_node.node.raft.journal import DurableJournal, PowerLost
from tests.node.raft.journal.conftest import JOURNAL_DIR, HeldSync, Machine, payload

WAIT_S = 10.0


def _add(journal: DurableJournal, first: int, last: int, term: int = 1) -> None:
    for index in range(first, last + 1):
        journal.add(payload(index, term), index, term)


def test_entries_queued_during_a_sync_share_the_next_one(machine: Machine) -> None:
    held = HeldSync(machine.disk)
    journal = DurableJournal(JOURNAL_DIR, io=held)
    _add(journal, 1, 1)
    assert held.entered.acquire(timeout=WAIT_S)  # the writer is inside fdatasync
    _add(journal, 2, 100)  # returns at once: appending never waits for the disk
    assert journal.durable_index == 0
    assert not journal.wait_durable(1, timeout=0)
    held.release(2)
    assert journal.flush(timeout=WAIT_S)
    assert journal.durable_index == 100
    assert machine.disk.syncs.fdatasync == 2
    assert journal.fsync_latency.as_dict()["count"] == 2
    journal.close()


def test_listeners_hear_each_advance_on_the_writer_thread(machine: Machine) -> None:
    journal = machine.open()
    heard: list[tuple[int, str]] = []
    journal.add_durable_listener(lambda index: heard.append((index, threading.current_thread().name)))
    for first in range(1, 200, 20):
        _add(journal, first, first + 19)
    assert journal.flush(timeout=WAIT_S)
    indexes = [index for index, _ in heard]
    assert indexes == sorted(set(indexes)) and indexes[-1] == 200
    assert {name for _, name in heard} == {"journal-writer"}


def test_a_conflict_lowers_the_durable_index_at_once(machine: Machine) -> None:
    journal = machine.open()
    _add(journal, 1, 10)
    assert journal.flush(timeout=WAIT_S) and journal.durable_index == 10
    journal.deleteEntriesFrom(5)  # entries 6..10 replaced by the new leader's
    assert journal.durable_index == 5
    _add(journal, 6, 8, term=2)
    assert journal.wait_durable(8, timeout=WAIT_S)
    machine.power_cut()
    assert machine.open()[5:] == [(payload(index, 2), index, 2) for index in range(6, 9)]


def test_a_clear_leaves_nothing_durable_until_the_new_entries_are(machine: Machine) -> None:
    journal = machine.open()
    _add(journal, 1, 10)
    journal.flush(timeout=WAIT_S)
    journal.clear()  # a snapshot from the leader was installed
    assert journal.durable_index == 0
    _add(journal, 500, 501, term=3)
    assert journal.wait_durable(501, timeout=WAIT_S)
    machine.power_cut()
    assert [index for _, index, _ in machine.open()[:]] == [500, 501]


def test_a_write_torn_by_the_power_cut_is_cut_off_at_open() -> None:
    repaired = 0
    for seed in range(12):
        machine = Machine()
        held = HeldSync(machine.disk)
        journal = DurableJournal(JOURNAL_DIR, io=held, segment_bytes=1 << 20)
        _add(journal, 1, 5)
        assert held.entered.acquire(timeout=WAIT_S)
        held.release()
        assert journal.wait_durable(5, timeout=WAIT_S)
        _add(journal, 6, 30)
        assert held.entered.acquire(timeout=WAIT_S)  # 6..30 written, their sync pending
        machine.disk.power_cut(random.Random(seed))
        held.release(100)
        with contextlib.suppress(PowerLost):
            journal.close()
        machine.disk.restore_power()
        reopened = machine.open()
        indexes = [index for _, index, _ in reopened[:]]
        assert indexes[:5] == [1, 2, 3, 4, 5]
        assert reopened[:] == [(payload(i, 1), i, 1) for i in indexes]
        repaired += reopened.repaired is not None
        machine.shutdown()
    assert repaired > 0
