"""The hooks of pysyncobj_hooks on a real PySyncObj 0.3.17 object (in process, a fake
transport): if PySyncObj's private names move, these fail."""

from __future__ import annotations

from typing import Any

from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.node import TCPNode
from pysyncobj.transport import Transport

from lithair_node.node.raft.journal import DurableJournal
from lithair_node.node.raft.journal.pysyncobj_hooks import DurableJournalHooks
from lithair_node.polling import wait_until
from tests.node.raft.journal.conftest import JOURNAL_DIR, HeldSync, Machine

WAIT_S = 10.0


class _RecordingTransport(Transport):
    def __init__(self, syncObj: Any, selfNode: Any, otherNodes: Any) -> None:
        super().__init__(syncObj, selfNode, otherNodes)
        self.sent: list[tuple[Any, dict[str, Any]]] = []

    def send(self, node: Any, message: Any) -> bool:
        self.sent.append((node, message))
        return True


class _Node(DurableJournalHooks, SyncObj):
    def __init__(self, peers: list[str], journal: DurableJournal) -> None:
        self.transport = _RecordingTransport(None, None, None)
        conf = SyncObjConf(autoTick=False, journalFile=None, raftMinTimeout=0.05, appendEntriesPeriod=0.01,
                           raftMaxTimeout=0.1)
        super().__init__("self:1", peers, conf, transport=self.transport)
        self.install_durable_journal(journal)
        self.value = 0

    @replicated
    def set_value(self, value: int) -> None:
        self.value = value


def _held_journal(machine: Machine) -> tuple[DurableJournal, HeldSync]:
    held = HeldSync(machine.disk)
    return DurableJournal(JOURNAL_DIR, io=held), held


def test_a_lone_leader_commits_only_what_it_holds_durably(machine: Machine) -> None:
    journal, held = _held_journal(machine)
    node = _Node([], journal)
    node.set_value(7)
    # Elected (its NO_OP and the command appended), but the writer is stuck in fdatasync.
    wait_until(lambda: node.doTick(0.01) or (node._isLeader() and len(journal) >= 3), WAIT_S)
    assert held.entered.acquire(timeout=WAIT_S)
    node.doTick(0.0)
    assert journal.durable_index == 0
    assert node._SyncObj__raftCommitIndex == 1 < journal[-1][1]  # 1: PySyncObj's starting value
    assert node.value == 0
    held.release(10)
    wait_until(lambda: node.doTick(0.01) or node.value == 7, WAIT_S, what="applied once durable")
    assert journal.durable_index == journal[-1][1]
    node.destroy()
    journal.close()


def test_a_follower_acknowledges_entries_once_durable(machine: Machine) -> None:
    journal, held = _held_journal(machine)
    node = _Node(["leader:2"], journal)
    leader = TCPNode("leader:2")
    node._SyncObj__onMessageReceived(leader, {
        "type": "append_entries", "term": 1, "commit_index": 1, "prevLogIdx": 1,
        "prevLogTerm": 0, "entries": [(b"\x00", 2, 1), (b"\x00", 3, 1)]})
    assert not [m for _, m in node.transport.sent if m.get("type") == "next_node_idx"]
    held.release(10)
    wait_until(lambda: node.doTick(0.01) or any(
        m.get("type") == "next_node_idx" for _, m in node.transport.sent), WAIT_S)
    [(to, ack)] = [(n, m) for n, m in node.transport.sent if m.get("type") == "next_node_idx"]
    assert to == leader and ack["success"] and ack["next_node_idx"] == 4
    assert journal.durable_index >= 3
    node.destroy()
    journal.close()


def test_term_vote_and_log_come_back_from_the_journal(machine: Machine) -> None:
    journal = machine.open()
    node = _Node([], journal)
    wait_until(lambda: node.doTick(0.01) or node._isLeader(), WAIT_S)
    term = node._getTerm()
    journal.flush(timeout=WAIT_S)
    node.destroy()
    machine.power_cut()
    again = _Node([], machine.open())
    assert again._getTerm() == term and again._SyncObj__votedForNodeId == "self:1"
    again.destroy()


def test_a_follower_sends_durable_acks_between_the_entries_it_applies(machine: Machine) -> None:
    # Applying runs on the Raft thread and the poller (which the writer wakes) only runs
    # after the whole tick: an ack that became durable must not wait for all the applies.
    journal, held = _held_journal(machine)
    node = _Node(["leader:2"], journal)
    leader = TCPNode("leader:2")
    node._SyncObj__onMessageReceived(leader, {
        "type": "append_entries", "term": 1, "commit_index": 1, "prevLogIdx": 1,
        "prevLogTerm": 0, "entries": [(b"\x00", 2, 1)]})
    held.release(10)
    assert journal.wait_durable(2, WAIT_S)
    assert not [m for _, m in node.transport.sent if m.get("type") == "next_node_idx"]
    node._SyncObj__doApplyCommand(b"\x01")  # a no-op command, applied before any poll
    [ack] = [m for _, m in node.transport.sent if m.get("type") == "next_node_idx"]
    assert ack["success"] and ack["next_node_idx"] == 3
    node.destroy()
    journal.close()
