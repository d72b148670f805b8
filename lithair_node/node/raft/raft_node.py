"""RaftNode: the one object the rest of the node talks to about Raft.

`propose(payload, callback)` appends an envelope to the log, `status()` is a sampled Raft
view, plus membership changes, leadership transfer and forced snapshots. The replicated
state machine itself (machine/) knows nothing about Raft. RaftNode runs the tick loop of
its ReplicatedLog (syncobj.py) on a thread of its own; PySyncObj's admin calls and
callbacks all run on that thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from pysyncobj import FAIL_REASON

from lithair_node.machine.commands import encode_announce
from lithair_node.machine.state import StateMachine
from lithair_node.node.config import NodeConfig
from lithair_node.node.raft.forced_voters import ForcedVoters
from lithair_node.node.raft.heap import QuietTrim
from lithair_node.node.raft.membership_probe import ProbeOutcome, probe_raft_peer
from lithair_node.node.raft.readiness import caught_up_now
from lithair_node.node.raft.syncobj import ReplicatedLog, syncobj_conf
from lithair_node.node.raft.types import (
    AppliedListener,
    PeerStatus,
    ProposeCallback,
    ProposeError,
    ProposeFailure,
    RaftStatus,
    unready_status,
)
from lithair_node.node.raft.wire import install_wire_format

log = logging.getLogger(__name__)

_ROLE = {0: "follower", 1: "candidate", 2: "leader"}


# How each PySyncObj failure maps to ours (errors.raft_failure then maps ours to HTTP).
FAILURES: dict[int, ProposeFailure] = {
    FAIL_REASON.QUEUE_FULL: ProposeFailure.QUEUE_FULL,
    FAIL_REASON.MISSING_LEADER: ProposeFailure.NO_LEADER,
    FAIL_REASON.DISCARDED: ProposeFailure.DISCARDED,
    FAIL_REASON.NOT_LEADER: ProposeFailure.NOT_LEADER,
    FAIL_REASON.LEADER_CHANGED: ProposeFailure.LEADER_CHANGED,
    FAIL_REASON.REQUEST_DENIED: ProposeFailure.DENIED,
    FAIL_REASON.UNKNOWN_OUTCOME: ProposeFailure.UNKNOWN_OUTCOME,
}


def _translating(callback: ProposeCallback) -> Callable[[Any, int], None]:
    """PySyncObj's (result, FAIL_REASON) callback -> ours (result, ProposeError | None)."""

    def on_done(result: Any, error: int) -> None:
        if error == FAIL_REASON.SUCCESS:
            callback(result, None)
        else:
            kind = FAILURES.get(error, ProposeFailure.UNKNOWN_OUTCOME)
            callback(None, ProposeError(kind, None if error in FAILURES else f"raft error {error}"))

    return on_done


SNAPSHOT_STAGGER = 0.25


def staggered_snapshot_bytes(trigger: int, own_address: str, peers: tuple[str, ...]) -> int:
    """This node's byte trigger: the configured one, +0 to +25% by the node's rank among the
    members. The same trigger everywhere made all nodes snapshot at the same log position,
    i.e. at the same moment; staggered, a follower busy writing its snapshot leaves the
    other to form the majority, and the box's CPUs are not all taken at once."""
    members = sorted({own_address, *peers})
    rank = members.index(own_address)
    return int(trigger * (1 + SNAPSHOT_STAGGER * rank / max(1, len(members) - 1)))


class RaftNode:
    """Runs the Raft replica of one node; thread-safe facade used by the HTTP side."""

    STATUS_PERIOD_S = 0.02
    ANNOUNCE_PERIOD_S = 2.0
    # Longest wait for socket activity per tick. New proposals wake the poller at once
    # (PySyncObj's pipe notifier), so this only bounds timer latency.
    TICK_WAIT_S = 0.05

    def __init__(self, config: NodeConfig, state: StateMachine) -> None:
        self.config = config
        self.state = state
        self._log: ReplicatedLog | None = None
        self._status = unready_status()
        self._leader_changes = 0
        self._last_leader: str | None = None
        self._last_leader_change: float | None = None
        self._last_sample = 0.0
        self._last_announce = 0.0
        self._caught_up = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._forced_voters: ForcedVoters | None = None
        # Called on the Raft thread after each apply (see types.AppliedListener).
        self.on_applied: list[AppliedListener] = []
        self._raft_calls: queue.SimpleQueue[Callable[[ReplicatedLog], None]] = queue.SimpleQueue()
        self._snapshot_bytes = staggered_snapshot_bytes(
            config.raft.compaction_bytes, config.raft_address, config.peers)
        self._quiet_trim = QuietTrim()

    def start(self) -> None:
        """Install the Raft wire format, bind the Raft port (RaftBindError if it cannot) and
        start ticking on a dedicated thread."""
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        install_wire_format()  # before the SyncObj: it picks its encryptor when created
        conf = syncobj_conf(self.config, self._on_state_changed)
        self._log = ReplicatedLog(self.config, self.state, conf)
        self._forced_voters = ForcedVoters.load(self.config.data_dir, self.config.raft_address,
                                                self._log)
        self._log.on_applied = self.on_applied
        self._log.addOnTickCallback(self._on_tick)
        self._thread = threading.Thread(target=self._run, name="raft-tick", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        raft_log = self._log
        assert raft_log is not None
        while not self._stopping.is_set():
            try:
                raft_log.doTick(self.TICK_WAIT_S)
            except Exception:
                log.exception("raft tick failed")
                time.sleep(self.TICK_WAIT_S)
        raft_log.destroy()  # closes sockets and the journal, on the thread that used them
        self._log = None

    def propose(self, payload: bytes, callback: ProposeCallback) -> None:
        """Append `payload` to the log. `callback(result, error)` runs on the Raft thread once
        this node has applied the entry, or with a ProposeError."""
        raft_log = self._log
        if raft_log is None:
            callback(None, ProposeError(ProposeFailure.NOT_STARTED))
            return
        raft_log.apply_envelope(payload, callback=_translating(callback))

    # -- membership (PySyncObj dynamic membership) ---------------------------------------

    def change_membership(self, action: str, raft_address: str, callback: ProposeCallback) -> None:
        """Add or remove one member through the log. One change at a time: PySyncObj denies
        a second while the first is uncommitted. The leader cannot remove itself: transfer
        leadership first."""
        if action not in ("add", "remove"):
            raise ValueError(f"unknown membership action {action!r}")

        def on_raft_thread(raft_log: ReplicatedLog) -> None:
            change = raft_log.addNodeToCluster if action == "add" else raft_log.removeNodeFromCluster
            change(raft_address, callback=_translating(callback))

        self._on_raft_thread(on_raft_thread, callback)

    def transfer_leadership(self, callback: ProposeCallback) -> None:
        """Ask the leader to hand over to its most caught-up follower (Raft TimeoutNow)."""
        self._on_raft_thread(lambda raft_log: raft_log.transferLeadership(
            callback=_translating(callback)), callback)

    def probe_member(self, host: str, port: int, timeout_s: float) -> ProbeOutcome:
        """Blocking (run it off the event loop): does host:port answer with our password?"""
        return probe_raft_peer(host, port, self.config.raft_password, timeout_s)

    def _on_raft_thread(self, call: Callable[[ReplicatedLog], None],
                        callback: ProposeCallback) -> None:
        # PySyncObj's admin calls read its internals: run them between ticks, not from the
        # HTTP thread.
        if self._log is None:
            callback(None, ProposeError(ProposeFailure.NOT_STARTED))
            return
        self._raft_calls.put(call)

    def status(self) -> RaftStatus:
        return self._status

    def journal_status(self) -> dict[str, Any]:
        """The durable journal's describe() (durability mode, indexes, fsync latency), read
        on demand: it is safe from any thread."""
        raft_log = self._log
        return raft_log.journal.describe() if raft_log is not None else \
            {"durability": str(self.config.durability)}

    def force_snapshot(self) -> None:
        if self._log is not None:
            self._log.forceLogCompaction()

    # -- Raft thread ---------------------------------------------------------------------

    def _on_state_changed(self, old: int, new: int) -> None:
        log.info("raft role %s -> %s", _ROLE.get(old, old), _ROLE.get(new, new))

    def _on_tick(self) -> None:
        raft_log = self._log
        if raft_log is None:
            return
        while not self._raft_calls.empty():
            self._raft_calls.get_nowait()(raft_log)
        if self._forced_voters is not None and self._forced_voters.on_tick(raft_log):
            self._forced_voters = None
        now = time.monotonic()
        if now - self._last_sample >= self.STATUS_PERIOD_S:
            self._last_sample = now
            self._status = self._sample(raft_log, now)
            self._maybe_announce(now)
        if raft_log.bytes_since_snapshot >= self._snapshot_bytes:
            raft_log.forceLogCompaction()  # the capture resets the count (SnapshotStore)
        if raft_log.snapshots.compacted:
            raft_log.snapshots.compacted = False
            raft_log.release_compacted_memory()
        elif self._quiet_trim.due(raft_log.raftLastApplied, now):
            raft_log.release_compacted_memory()  # a burst's buffers, once writes stop
        raft_log.hurry_solo_commit()

    def _sample(self, raft_log: ReplicatedLog, now: float) -> RaftStatus:
        raw = raft_log.getStatus()
        leader = raw["leader"].id if raw["leader"] is not None else None
        if leader != self._last_leader:
            self._last_leader = leader
            self._last_leader_change = now
            if leader is not None:
                self._leader_changes += 1
        self._caught_up = self._caught_up or caught_up_now(raft_log, raw)
        peers = tuple(
            PeerStatus(
                raft_address=peer,
                connected=raw.get(f"partner_node_status_server_{peer}") == 2,
                match_index=raw.get(f"match_idx_server_{peer}"),
                next_index=raw.get(f"next_node_idx_server_{peer}"),
            )
            for peer in sorted(
                key.removeprefix("partner_node_status_server_")
                for key in raw
                if key.startswith("partner_node_status_server_")
            )
        )
        return RaftStatus(
            role=_ROLE.get(raw["state"], str(raw["state"])),
            leader=leader,
            term=raw["raft_term"],
            commit_index=raw["commit_idx"],
            applied_index=raw["last_applied"],
            leader_commit_index=raw["leader_commit_idx"],
            log_length=raw["log_len"],
            has_quorum=raw["has_quorum"],
            peers=peers,
            leader_changes=self._leader_changes,
            last_leader_change_s=self._last_leader_change,
            snapshot=dict(raft_log.snapshots.info),
            ready=self._caught_up,
            sampled_at=now,
            longest_tick_ms=round(raft_log.longest_tick_s * 1000, 1),
            tick_stalls=raft_log.stalls,
            resends_avoided=raft_log.resends_avoided,
            entries_received_again=raft_log.entries_received_again,
        )

    def _maybe_announce(self, now: float) -> None:
        """Record this node's id and HTTP URL in the replicated member directory."""
        status = self._status
        if status.leader is None or not status.ready or now - self._last_announce < self.ANNOUNCE_PERIOD_S:
            return
        wanted = {"node_id": self.config.node_id, "http": self.config.http_url}
        if self.state.members().get(self.config.raft_address) == wanted:
            return
        self._last_announce = now
        payload = encode_announce(self.config.raft_address, self.config.node_id, self.config.http_url)
        self.propose(payload, lambda _result, _error: None)
