"""A leader sends a new commit index before applying the entries it covers
(node/raft/commit_first.py), on a real PySyncObj 0.3.17 object with a recording transport."""

from __future__ import annotations

from pathlib import Path

import pytest
from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.node import TCPNode

from lithair_node.node.raft.commit_first import CommitIndexFirst
from lithair_node.node.raft.journal import DurableJournal
from lithair_node.node.raft.journal.pysyncobj_hooks import DurableJournalHooks
from lithair_node.polling import wait_until
from tests.node.raft.journal.test_pysyncobj_hooks import _RecordingTransport

WAIT_S = 10.0
PEER = "peer:2"


class _Leader(SyncObj):
    """A node whose one follower is the test: what it was told is in `transport.sent`."""

    def __init__(self, journal: DurableJournal) -> None:
        self.transport = _RecordingTransport(None, None, None)
        # No heartbeat within a test (it would also carry the commit index).
        conf = SyncObjConf(autoTick=False, journalFile=None, raftMinTimeout=60.0,
                           raftMaxTimeout=61.0, appendEntriesPeriod=19.0,
                           appendEntriesUseBatch=False, connectionTimeout=62.0)
        super().__init__("self:1", [PEER], conf, transport=self.transport)
        self.install_durable_journal(journal)  # type: ignore[attr-defined]
        self.told_when_applied: list[tuple[int, int]] = []

    def commit_index_told(self) -> int:
        return max((m["commit_index"] for _, m in self.transport.sent
                    if m.get("type") == "append_entries"), default=0)

    @replicated
    def record(self) -> None:
        # PySyncObj counts the entry as applied after this call: it is the next one.
        self.told_when_applied.append((self._SyncObj__raftLastApplied + 1, self.commit_index_told()))


class _CommitFirst(CommitIndexFirst, DurableJournalHooks, _Leader):
    pass


class _PySyncObjOrder(DurableJournalHooks, _Leader):
    pass


def _elect(node: _Leader, peer: TCPNode) -> None:
    node.transport._onNodeConnected(peer)
    node._SyncObj__raftElectionDeadline = 0.0  # campaign now
    wait_until(lambda: node.doTick(0.01) or any(
        m.get("type") == "request_vote" for _, m in node.transport.sent), WAIT_S)
    node._SyncObj__onMessageReceived(peer, {"type": "response_vote", "term": node._getTerm()})
    assert node._isLeader()


def _commit_one_record(node: _Leader, peer: TCPNode) -> None:
    node.record()
    wait_until(lambda: node.doTick(0.01) or any(
        m.get("entries") for _, m in node.transport.sent), WAIT_S, what="the entry sent")
    last = node._SyncObj__getCurrentLogIndex()
    node._SyncObj__onMessageReceived(peer, {"type": "next_node_idx", "term": node._getTerm(),
                                            "next_node_idx": last + 1, "success": True,
                                            "reset": False})
    wait_until(lambda: node.doTick(0.01) or node.told_when_applied, WAIT_S, what="applied")


@pytest.mark.parametrize(("kind", "told_first"), [(_CommitFirst, True), (_PySyncObjOrder, False)])
def test_the_follower_hears_of_the_commit_before_the_leader_applies(
        tmp_path: Path, kind: type[_Leader], told_first: bool) -> None:
    journal = DurableJournal(tmp_path / "journal")
    node = kind(journal)
    peer = TCPNode(PEER)
    try:
        _elect(node, peer)
        _commit_one_record(node, peer)
        [(index, told)] = node.told_when_applied
        # PySyncObj's own order (the second case) tells the follower only after the apply:
        # this is what the mixin changes.
        assert (told >= index) is told_first, (index, told)
        sends = len(node.transport.sent)
        node.doTick(0.0)
        # No second message for the same commit index after the apply.
        assert told_first is False or len(node.transport.sent) == sends
    finally:
        node.destroy()
        journal.close()
