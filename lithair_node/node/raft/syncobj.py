"""The PySyncObj object of a node (ReplicatedLog) and the SyncObjConf it runs with.

PySyncObj 0.3.17 is pinned: the overrides below rely on a few of its internals, each named
`_SyncObj__*`, and tests/node/raft/test_replication_internals.py fails loudly if they change:
- the index/term of the entry being applied (PySyncObj does not pass them to the method);
- the serializer, replaced by our snapshot store (snapshot_store.py);
- the election deadline, postponed after our own stalls, and PreVote + leader stickiness
  (PySyncObj has neither; the rules are in prevote.py, the glue in PreVoteHooks below);
- the leader's handling of a follower's acknowledgement (`_SyncObj__onMessageReceived`):
  PySyncObj moves the follower's next index *back* to the acknowledged one, so every entry
  still in flight was sent a second time (see ReplicatedLog._SyncObj__onMessageReceived);
- the journal: ours (journal/, a DurableJournal plugged in by DurableJournalHooks, whose
  internals tests/node/raft/journal/test_pysyncobj_hooks.py checks), aligned with a
  restored snapshot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.monotonic import monotonic as raft_clock
from pysyncobj.syncobj import SyncObjException

from lithair_node.machine.state import ApplyResult, LogEntry, StateMachine
from lithair_node.node.config import NodeConfig
from lithair_node.node.raft import heap
from lithair_node.node.raft.commit_first import CommitIndexFirst
from lithair_node.node.raft.election_trace import trace
from lithair_node.node.raft.journal import DurableJournal
from lithair_node.node.raft.journal.pysyncobj_hooks import DurableJournalHooks
from lithair_node.node.raft.legacy_journal import migrate_legacy_journal
from lithair_node.node.raft.node_io import node_file_io
from lithair_node.node.raft.prevote_hooks import PreVoteHooks
from lithair_node.node.raft.snapshot_store import SnapshotStore
from lithair_node.node.raft.types import AppliedListener, RaftBindError

log = logging.getLogger(__name__)

_LEADER = 2  # pysyncobj.syncobj._RAFT_STATE

class ReplicatedLog(CommitIndexFirst, PreVoteHooks, DurableJournalHooks, SyncObj):
    """The PySyncObj object. Exactly one replicated method, taking a versioned envelope.
    Its journal is our DurableJournal in <data-dir>/journal/ (PySyncObj is built with
    journalFile=None, so it first makes a MemoryJournal that the hooks replace)."""

    def __init__(self, config: NodeConfig, state: StateMachine, conf: SyncObjConf) -> None:
        self._state = state
        self._config = config
        self.on_applied: list[AppliedListener] = []  # RaftNode hands its own list in
        # Envelope bytes applied since the last snapshot capture, whatever triggered it (ours,
        # or PySyncObj's entry count and interval): RaftNode._on_tick's byte trigger reads it.
        self.bytes_since_snapshot = 0
        self._last_tick_s = 0.0
        self._last_stall = 0.0
        self.stalls = 0
        self.longest_tick_s = 0.0
        self.resends_avoided = 0
        self.entries_received_again = 0
        self._first_commit_term: int | None = None
        self._init_pre_vote()
        # Opened before the SyncObj binds its port: a damaged journal (JournalCorrupt) stops
        # the node before it joins the cluster.
        journal = DurableJournal(config.journal_dir, durability=config.durability,
                                 io=node_file_io(config))
        try:
            migrate_legacy_journal(config.legacy_journal_path, journal)
            super().__init__(config.raft_address, list(config.peers), conf)
        except SyncObjException as exc:
            journal.close()
            if exc.args != ("BindError",):  # the only one raised here with autoTick=False
                raise
            raise RaftBindError(f"cannot bind the Raft port {config.raft_bind} (in use, or "
                                "not an address of this host)") from exc
        except BaseException:
            journal.close()
            raise
        self.install_durable_journal(journal)
        self.journal = journal
        # Replace PySyncObj's pickle serializer (see SnapshotStore). Safe here: with
        # autoTick=False nothing has ticked yet, so no snapshot has been loaded.
        self.snapshots = SnapshotStore(config, state)
        self.snapshots.align_journal = self._align_journal
        self.snapshots.after_load = self.postpone_election
        self.snapshots.after_capture = self._snapshot_captured
        self._SyncObj__serializer = self.snapshots
        # PySyncObj armed the election timer before reading the journal.
        self.postpone_election()

    def _onTick(self, timeToWait: float = 0.0) -> None:  # PySyncObj's name
        # The election timer is checked first thing in a tick. If the previous tick was a
        # long stall of ours (replaying a long stretch of log, a big batch of messages, a
        # GC or SIGSTOP pause), postpone it: the leader's heartbeats were not read
        # meanwhile. At most once per election timeout, so a node that is always slow
        # still starts elections, only later.
        now = time.monotonic()
        if self._last_tick_s > timeToWait + self._config.raft.election_min_s / 2 and \
                now - self._last_stall > self._config.raft.election_max_s:
            log.info("raft tick stalled %.2f s: postponing our election timer", self._last_tick_s)
            self.stalls += 1
            self._last_stall = now
            self.postpone_election()
        self._maybe_pre_vote()
        state, term = self._SyncObj__raftState, self._SyncObj__raftCurrentTerm
        super()._onTick(timeToWait)
        self._last_tick_s = time.monotonic() - now
        self._trace_election(state, term)
        self.longest_tick_s = max(self.longest_tick_s, self._last_tick_s)

    def _trace_election(self, state_before: int, term_before: int) -> None:
        """election_trace lines for our campaign, our win, and our first commit as leader
        (the no-op of the new term: from then on writes commit)."""
        state, term = self._SyncObj__raftState, self._SyncObj__raftCurrentTerm
        if term > term_before and self._SyncObj__votedForNodeId == self._SyncObj__selfNode.id:
            trace("campaign", term=term, tick_ms=round(self._last_tick_s * 1000, 1))
        if state == _LEADER and state_before != _LEADER:
            trace("became_leader", term=term)
            self._first_commit_term = term
        if self._first_commit_term == term and state == _LEADER and \
                self._SyncObj__noopIDx is not None and \
                self._SyncObj__raftCommitIndex >= self._SyncObj__noopIDx:
            self._first_commit_term = None
            trace("first_commit", term=term, index=self._SyncObj__raftCommitIndex)

    def _snapshot_captured(self) -> None:
        self.bytes_since_snapshot = 0

    def postpone_election(self) -> None:
        """Give the leader a full election timeout, from now, to reach us.

        Called after our OWN stalls: reading the journal, loading a snapshot (at startup or
        from the leader), replaying a long stretch of log in one tick. PySyncObj checks
        the timer at the start of the next tick, before reading the leader's queued
        heartbeats, so a node that was merely busy would start an election; without
        PreVote that bumps the term and deposes a healthy leader (measured: one follower
        restart in three did, with 1.3M readings). Only ever delays an election. Not after
        the connection to our leader closed (PreVoteHooks): there is nothing to wait for,
        and a busy follower postponed its connection-loss pre-vote by a whole timeout
        (traced: 1.9 s after a kill)."""
        if self._SyncObj__transferInProgress or self.leader_connection_lost:
            return
        self._SyncObj__raftElectionDeadline = max(
            self._SyncObj__raftElectionDeadline,  # on PySyncObj's clock, not time.monotonic's
            raft_clock() + self._SyncObj__generateRaftTimeout(),
        )

    def hurry_solo_commit(self) -> None:
        """A one-member cluster commits an entry on the tick after it was appended, and the
        tick that appended it is about to sleep in its poll (up to TICK_WAIT_S): wake it, as
        a follower's acknowledgement would in a real cluster. Raft thread, end of a tick."""
        notifier = getattr(self, "_SyncObj__pipeNotifier", None)  # absent without pipes
        if notifier is not None and not self._SyncObj__otherNodes and self._isLeader() and \
                self._SyncObj__raftCommitIndex < self._SyncObj__getCurrentLogIndex():
            notifier.notify()

    def release_compacted_memory(self) -> None:
        """After log compaction, or once writes stop: return the freed heap memory (dropped
        entries, a burst's buffers) to the OS (see heap.py). Raft thread only."""
        heap.release_free_memory_soon()

    def _SyncObj__onMessageReceived(self, node: Any, message: Any) -> None:  # PySyncObj's name
        """On a successful append, PySyncObj sets the follower's next index to the index it
        acknowledged + 1, even when later entries were already sent (they always are under
        load: each new entry goes out at once). The next send then repeated every entry in
        flight: twice the pickling, encryption and traffic on the leader, and a follower
        that truncates and re-appends entries it already had ('truncating already-applied
        log entries', CRITICAL). Raft implementations that pipeline (etcd's Progress) only
        move the next index forward on success; a follower that really misses an entry
        answers reset=True, which still rewinds it."""
        if type(message) is dict and self._on_pre_vote_message(node, message):
            return
        next_index = self._SyncObj__raftNextIndex
        kind = message.get("type") if type(message) is dict else None
        sent_up_to = next_index.get(node) if kind == "next_node_idx" and \
            message.get("success") and not message.get("reset") else None
        if kind == "append_entries" and message.get("entries"):
            # Follower: count entries received again (only a rejection or a reconnect
            # should cause that).
            first = message["entries"][0][1]
            held = self._SyncObj__getCurrentLogIndex()
            if first <= held:
                self.entries_received_again += min(held - first + 1, len(message["entries"]))
        SyncObj._SyncObj__onMessageReceived(self, node, message)  # type: ignore[attr-defined]
        if sent_up_to is not None and next_index.get(node, sent_up_to) < sent_up_to:
            next_index[node] = sent_up_to
            self.resends_avoided += 1

    def transferLeadership(self, node: Any = None, callback: Any = None) -> None:  # PySyncObj's
        self.release_lease()
        super().transferLeadership(node, callback)

    def _align_journal(self, prev: tuple[Any, ...], last: tuple[Any, ...]) -> None:
        """Called with the snapshot restored at startup. A kill between our snapshot's rename
        and PySyncObj's log truncation (next tick) leaves a journal that starts before the
        snapshot; PySyncObj would then discard the WHOLE journal, committed entries after
        the snapshot included. Drop only the prefix the snapshot covers, so that the
        journal starts at the snapshot's two entries as PySyncObj expects."""
        journal = self._SyncObj__raftLog
        if len(journal) < 2:
            return
        offset = int(prev[1]) - int(journal[0][1])
        if 0 < offset < len(journal) - 1 and tuple(journal[offset]) == prev and \
                tuple(journal[offset + 1]) == last:
            log.warning("journal starts %d entries before the snapshot (killed while "
                        "compacting?): dropping only those", offset)
            journal.deleteEntriesTo(offset)

    @replicated
    def apply_envelope(self, payload: bytes = b"", *_extra: Any, **_ignored: Any) -> ApplyResult:
        # PySyncObj retries a raising method forever on every node: nothing here may raise,
        # whatever a (buggy or foreign) proposer put in the log.
        # Extra arguments are tolerated for the same reason: a wrong call must not raise.
        # PySyncObj increments raftLastApplied after the call: the entry is the next one.
        index = self.raftLastApplied + 1
        try:
            entries = self._SyncObj__getEntries(index, 1)
            term = entries[0][2] if entries else self.raftCurrentTerm
        except Exception:
            term = self.raftCurrentTerm
        if not isinstance(payload, bytes):
            payload = b""  # refused by the state machine as an undecodable envelope
        self.bytes_since_snapshot += len(payload)
        result = self._state.apply(LogEntry(index, term, payload))
        for listener in self.on_applied:
            try:
                listener(index, term, payload, result)
            except Exception:  # a raising listener would make PySyncObj apply the entry again
                log.exception("on_applied listener failed at index %d", index)
        return result


def syncobj_conf(config: NodeConfig, on_state_changed: Callable[[int, int], None]) -> SyncObjConf:
    """The SyncObjConf of this node: the tuned timings and sizes of config.RaftTuning, our
    journal and snapshot files, and a tick loop we run ourselves."""
    raft = config.raft
    return SyncObjConf(
        password=config.raft_password,
        bindAddress=config.raft_bind,
        # Our DurableJournal replaces the MemoryJournal this gives (ReplicatedLog.__init__).
        journalFile=None,
        fullDumpFile=str(config.snapshot_path),
        # Send each appended entry at once (group commit happens before the log, in
        # proposer.py); with True, entries wait for the next heartbeat (0.1 s).
        appendEntriesUseBatch=False,
        appendEntriesPeriod=raft.heartbeat_s,
        appendEntriesBatchSizeBytes=raft.append_batch_bytes,
        raftMinTimeout=raft.election_min_s,
        raftMaxTimeout=raft.election_max_s,
        connectionTimeout=raft.connection_timeout_s,
        connectionRetryTime=raft.reconnect_s,
        leaderFallbackTimeout=raft.leader_fallback_s,
        dnsCacheTime=raft.dns_cache_s,
        dnsFailCacheTime=raft.dns_fail_cache_s,
        sendBufferSize=raft.socket_buffer_bytes,
        recvBufferSize=raft.socket_buffer_bytes,
        logCompactionMinEntries=raft.compaction_min_entries,
        logCompactionMinTime=raft.compaction_interval_s,
        logCompactionBatchSize=raft.snapshot_chunk_bytes,
        useFork=False,
        # We run the tick loop on our own thread (RaftNode._run), started only after the
        # snapshot store is in place.
        autoTick=False,
        bindRetryTime=0.5,
        maxBindRetries=10,
        commandsQueueSize=10_000,
        onStateChanged=on_state_changed,
        dynamicMembershipChange=True,
    )

