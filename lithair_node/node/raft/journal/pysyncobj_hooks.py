"""Plugs a DurableJournal into PySyncObj 0.3.17 (pinned: these are its private names, and
tests/node/raft/journal/test_pysyncobj_hooks.py fails loudly when they move).

    class _ReplicatedLog(DurableJournalHooks, SyncObj):   # the hooks first in the MRO
        def __init__(...):
            super().__init__(address, peers, conf)   # conf.journalFile = None
            self.install_durable_journal(DurableJournal(...))

Four hooks:
- the journal replaces the MemoryJournal PySyncObj made (it builds its journal inside
  __init__ with no way to pass one in; this avoids patching pysyncobj.syncobj.createJournal);
- `_SyncObj__raftCommitIndex` becomes a property: on the leader, an assignment is capped by
  raft_gates.leader_commit_index, so the leader counts itself only up to its durable index;
- `_SyncObj__sendNextNodeIdx` holds a follower's AppendEntries success until the entries are
  durable; the writer thread wakes the Raft thread's poller (a PipeNotifier) to send it;
- `_SyncObj__doApplyCommand` first sends the acknowledgements that became durable: a
  follower applies committed entries on the Raft thread (milliseconds each), and the
  poller only runs once the whole tick is done.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pysyncobj import SyncObj
from pysyncobj.pipe_notifier import PipeNotifier

from lithair_node.node.raft.journal import trace
from lithair_node.node.raft.journal.journal import DurableJournal
from lithair_node.node.raft.journal.raft_gates import HeldAcks, leader_commit_index


class DurableJournalHooks:
    _durable_journal: DurableJournal | None = None
    _held_acks: HeldAcks[Any] | None = None

    def install_durable_journal(self: Any, journal: DurableJournal) -> None:
        """Right after SyncObj.__init__ (autoTick off, nothing ticked yet). Redoes what
        __init__ did with its own journal (syncobj.py, after createJournal)."""
        if len(journal) == 0:
            no_op = self._SyncObj__raftLog[0]  # the NO_OP PySyncObj puts in an empty log
            journal.add(no_op[0], no_op[1], no_op[2])
        self._SyncObj__raftLog = journal
        self._SyncObj__raftCurrentTerm = max(journal.getCurrentTerm(), journal[-1][2])
        self._SyncObj__votedForNodeId = journal.getVotedForNodeId()
        self._held_acks = HeldAcks()
        self._durable_wakeup = PipeNotifier(self._poller, callback=self._send_durable_acks)
        self._durable_journal = journal
        self._SyncObj__raftCommitIndex = journal.getRaftCommitIndex()
        journal.add_durable_listener(self._wake_on_durable)

    # -- The leader counts itself only once durable ------------------------------------------

    @property
    def _SyncObj__raftCommitIndex(self) -> int:
        return int(self.__dict__.get("_commit_index", 0))

    @_SyncObj__raftCommitIndex.setter
    def _SyncObj__raftCommitIndex(self: Any, proposed: int) -> None:
        journal = self._durable_journal
        if journal is not None and self._isLeader():
            proposed = leader_commit_index(
                proposed=proposed, committed=self._SyncObj__raftCommitIndex,
                own_durable=journal.durable_index,
                follower_match=[self._SyncObj__raftMatchIndex.get(node, 0)
                                for node in self._SyncObj__otherNodes],
                term_of=self._term_of, current_term=self._SyncObj__raftCurrentTerm)
        if trace.ENABLED and journal is not None:
            trace.mark("commit", proposed, always=True)
        self.__dict__["_commit_index"] = proposed

    def _term_of(self, index: int) -> int | None:
        journal = self._durable_journal
        if journal is None or not len(journal):
            return None
        position = index - journal[0][1]
        return journal[position][2] if 0 <= position < len(journal) else None

    # -- A follower acknowledges only what is durable ----------------------------------------

    def _SyncObj__sendNextNodeIdx(self: Any, node: Any, reset: bool = False,
                                  nextNodeIdx: int | None = None, success: bool = False) -> None:
        journal = self._durable_journal
        if journal is not None and success and not reset:
            next_index = nextNodeIdx if nextNodeIdx is not None else journal[-1][1] + 1
            assert self._held_acks is not None  # installed with the journal
            if self._held_acks.must_hold(next_index, journal.durable_index):
                if trace.ENABLED:
                    trace.mark("hold", next_index - 1)
                self._held_acks.hold(node, next_index, self._ack_epoch())
                return
            if trace.ENABLED:
                trace.mark("ack", next_index - 1, always=True)
        SyncObj._SyncObj__sendNextNodeIdx(self, node, reset=reset,  # type: ignore[attr-defined]
                                          nextNodeIdx=nextNodeIdx, success=success)

    def _SyncObj__doApplyCommand(self: Any, command: bytes) -> Any:
        if self._held_acks:
            self._send_durable_acks()
        return SyncObj._SyncObj__doApplyCommand(self, command)  # type: ignore[attr-defined]

    def _ack_epoch(self: Any) -> tuple[int, int]:
        journal = self._durable_journal
        return self._SyncObj__raftCurrentTerm, journal.truncations if journal else 0

    def _wake_on_durable(self, _durable_index: int) -> None:
        # Writer thread: only wake the Raft thread. A full pipe already means "wake up".
        with contextlib.suppress(BlockingIOError):
            self._durable_wakeup.notify()

    def _send_durable_acks(self: Any) -> None:
        # Raft thread (its poller). The leader's commit index is recomputed by the same tick.
        journal = self._durable_journal
        if journal is None or self._held_acks is None:
            return
        if trace.ENABLED:
            trace.mark("durable_seen", journal.durable_index, always=True)
        for node, next_index in self._held_acks.release(journal.durable_index, self._ack_epoch()):
            SyncObj._SyncObj__sendNextNodeIdx(self, node, nextNodeIdx=next_index,  # type: ignore[attr-defined]
                                              success=True)
            if trace.ENABLED:
                trace.mark("ack", next_index - 1, always=True)
