"""The one module that owns PySyncObj.

Everything else talks to `RaftNode`: `propose(payload, callback)` to append an envelope to
the log, `status()` for a sampled Raft view. The replicated state machine itself
(state.py) knows nothing about Raft.

PySyncObj 0.3.17 is pinned: we rely on a few of its internals, each named `_SyncObj__*` /
`_Serializer__*` below, and tests/unit/test_replication_internals.py fails loudly if they
change:
- the index/term of the entry being applied (PySyncObj does not pass them to the method);
- a snapshot store that replaces PySyncObj's pickle+fork serializer with our msgpack
  format, written in a background thread from immutable views (no fork, no tick stall);
- the wire format of the Raft port (see "Transport" below): no zlib, AES-GCM instead of
  Fernet, pickle protocol 5 instead of 2;
- the leader's handling of a follower's acknowledgement (`_SyncObj__onMessageReceived`):
  PySyncObj moves the follower's next index *back* to the acknowledged one, so every entry
  still in flight was sent a second time (see _ReplicatedLog._SyncObj__onMessageReceived).
"""

from __future__ import annotations

import logging
import mmap
import os
import queue
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pysyncobj.pickle
import pysyncobj.syncobj
import pysyncobj.tcp_connection
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from pysyncobj import FAIL_REASON, SERIALIZER_STATE, SyncObj, SyncObjConf, replicated
from pysyncobj.node import TCPNode
from pysyncobj.serializer import Serializer

from lithair_node.machine import snapshot_file
from lithair_node.machine.commands import encode_announce
from lithair_node.machine.state import ApplyResult, LogEntry, StateMachine
from lithair_node.node.config import NodeConfig
from lithair_node.node.raft import heap
from lithair_node.node.raft.types import (
    PeerStatus,
    ProposeCallback,
    ProposeError,
    ProposeFailure,
    RaftStatus,
    unready_status,
)

log = logging.getLogger(__name__)

_ROLE = {0: "follower", 1: "candidate", 2: "leader"}


# -- Transport --------------------------------------------------------------------------
#
# PySyncObj frames every message as zlib.compress(pickle.dumps(message, protocol=2), 3),
# then Fernet-encrypts it. Measured on a 2-core box, zlib took 36-40% of a loaded leader and
# Fernet (base64, CBC+HMAC, every token parsed twice) most of the rest of the transport cost;
# protocol 2 pickles `bytes` as latin-1 text re-encoded to UTF-8 (+35-54% per pickling
# level, and entries are pickled twice: command, then message). We replace, for every
# SyncObj in this process:
# - zlib by an identity codec: entries are dense binary columns and loopback/LAN links are
#   not the bottleneck; compression bought nothing but CPU;
# - Fernet by AES-GCM (authenticated encryption, AES-NI): token = version byte, 8-byte
#   timestamp (authenticated as associated data), 96-bit random nonce, ciphertext + tag.
#   The key is derived from the Raft password with PBKDF2 (a salt of our own, so a node
#   speaking PySyncObj's stock Fernet format cannot talk to ours: it fails to decrypt and is
#   disconnected, never half-understood). The password stays mandatory (config.py);
# - pickle protocol 2 by 5 (bytes are copied as is). Any Python 3.8+ reads both, so old
#   journals still load.
# These are PySyncObj 0.3.17 internals: tests/unit/test_replication_internals.py fails
# loudly when they move, and every node of a cluster must run this code (same wire format).

WIRE_VERSION = 1
_WIRE_HEADER = struct.Struct(">BQ")  # version, timestamp
_NONCE_BYTES = 12
_KDF_SALT = b"lithair-node/raft-wire/aes-gcm/v1"
PICKLE_PROTOCOL = 5


class _IdentityCodec:
    """Stands in for the `zlib` module inside pysyncobj.tcp_connection."""

    @staticmethod
    def compress(data: bytes, level: int = -1) -> bytes:
        return data

    @staticmethod
    def decompress(data: bytes) -> bytes:
        return data


class AesGcmEncryptor:
    """The part of Fernet's interface PySyncObj uses: encrypt_at_time, extract_timestamp,
    decrypt. PySyncObj calls extract_timestamp(token) then decrypt(token) on the same token:
    the first call authenticates and decrypts, the second returns the cached plaintext, so
    each message is decrypted once and nothing unauthenticated is ever returned."""

    def __init__(self, password: str | bytes) -> None:
        secret = password.encode() if isinstance(password, str) else bytes(password)
        kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, iterations=200_000)
        self._aead = AESGCM(kdf.derive(secret))
        self._last: tuple[bytes, bytes] | None = None

    def encrypt_at_time(self, data: bytes, current_time: int) -> bytes:
        header = _WIRE_HEADER.pack(WIRE_VERSION, current_time)
        nonce = os.urandom(_NONCE_BYTES)
        return b"".join((header, nonce, self._aead.encrypt(nonce, data, header)))

    def _open(self, token: bytes) -> bytes:
        head = _WIRE_HEADER.size
        if len(token) < head + _NONCE_BYTES + 16 or token[0] != WIRE_VERSION:
            raise InvalidTag("not a Lithair wire token (version or length)")
        nonce = token[head:head + _NONCE_BYTES]
        return self._aead.decrypt(nonce, memoryview(token)[head + _NONCE_BYTES:], token[:head])

    def extract_timestamp(self, token: bytes) -> int:
        plain = self._open(token)
        self._last = (token, plain)
        return int(_WIRE_HEADER.unpack_from(token)[1])

    def decrypt(self, token: bytes) -> bytes:
        last, self._last = self._last, None
        if last is not None and last[0] is token:
            return last[1]
        return self._open(token)


def _install_wire_format() -> None:
    pysyncobj.tcp_connection.zlib = _IdentityCodec  # type: ignore[assignment]
    pysyncobj.syncobj.getEncryptor = AesGcmEncryptor  # type: ignore[assignment]
    setattr(pysyncobj.pickle, "__protocol", PICKLE_PROTOCOL)  # a module-level "private" name


_install_wire_format()


# How each PySyncObj failure maps to ours.
_FAILURES: dict[int, ProposeFailure] = {
    FAIL_REASON.QUEUE_FULL: ProposeFailure.QUEUE_FULL,
    FAIL_REASON.MISSING_LEADER: ProposeFailure.NO_LEADER,
    FAIL_REASON.DISCARDED: ProposeFailure.DISCARDED,
    FAIL_REASON.NOT_LEADER: ProposeFailure.NOT_LEADER,
    FAIL_REASON.LEADER_CHANGED: ProposeFailure.LEADER_CHANGED,
    FAIL_REASON.REQUEST_DENIED: ProposeFailure.DENIED,
    FAIL_REASON.UNKNOWN_OUTCOME: ProposeFailure.UNKNOWN_OUTCOME,
}


class _StaleSnapshot(Exception):
    """A snapshot from the leader was installed while ours was being written."""


class _SnapshotStore(Serializer):
    """PySyncObj's Serializer interface, writing our versioned msgpack snapshots.

    serialize() runs on the Raft thread: it only captures immutable views of the state
    (O(sensors)) and starts a writer thread. PySyncObj polls checkSerializing() each tick and
    truncates the log once it reports SUCCESS. Shipping the file to lagging followers reuses
    PySyncObj's own chunked transfer (inherited getTransmissionData/setTransmissionData);
    the file a follower receives is loaded by deserialize() like one read at startup.
    """

    def __init__(self, config: NodeConfig, state: StateMachine) -> None:
        super().__init__(str(config.snapshot_path), config.raft.snapshot_chunk_bytes,
                         False, None, None, None)
        self._path = config.snapshot_path
        self._state = state
        self._writer: threading.Thread | None = None
        self._outcome: bool | None = None
        self._current_id: int | None = None
        # Serialises "rename our snapshot into place" with "install the leader's": a local
        # snapshot that finishes after an install must not replace the newer file.
        self._rename_lock = threading.Lock()
        self._installs = 0
        self._receiving = False
        # Set by _ReplicatedLog: keep the journal entries a restored snapshot does not cover;
        # postpone our election timer once a (long) load is done.
        self.align_journal: Callable[[tuple[Any, ...], tuple[Any, ...]], None] | None = None
        self.after_load: Callable[[], None] | None = None
        self.info: dict[str, Any] = {"count": 0, "installed": 0}
        self.compacted = False

    def checkSerializing(self) -> tuple[int, int | None]:
        if self._writer is None:
            return SERIALIZER_STATE.NOT_SERIALIZING, None
        if self._writer.is_alive():
            return SERIALIZER_STATE.SERIALIZING, self._current_id
        self._writer = None
        if self._outcome:
            # Followers mid-transfer restart with the new file (its log position changed).
            self._Serializer__transmissions = {}  # type: ignore[attr-defined]
            # PySyncObj drops the entries the snapshot covers in this tick: give the memory
            # back once they are gone (RaftNode._on_tick).
            self.compacted = True
        state = SERIALIZER_STATE.SUCCESS if self._outcome else SERIALIZER_STATE.FAILED
        return state, self._current_id

    def serialize(self, data: tuple[Any, ...], id: int) -> None:
        if self._writer is not None:
            return
        _, last_entry, prev_entry, cluster = data
        raft_meta = {
            "last": list(last_entry),
            "prev": list(prev_entry),
            "cluster": sorted(node.id for node in cluster),
        }
        started = time.monotonic()
        view = self._state.capture()
        capture_s = time.monotonic() - started
        self._current_id = id
        self._outcome = None
        self._writer = threading.Thread(
            target=self._write, args=(view, raft_meta, started, capture_s, self._installs),
            name="snapshot-writer", daemon=True,
        )
        self._writer.start()

    def _write(self, view: Any, raft_meta: dict[str, Any], started: float, capture_s: float,
               installs_at_capture: int) -> None:
        def replace(tmp: Path, path: Path) -> None:
            with self._rename_lock:
                if self._installs != installs_at_capture:
                    raise _StaleSnapshot
                os.replace(tmp, path)

        try:
            size = snapshot_file.write_atomic(self._path, view, raft_meta, replace=replace)
        except _StaleSnapshot:
            log.info("snapshot at index %s dropped: the leader's snapshot was installed meanwhile",
                     raft_meta["last"][1])
            self._outcome = False
            return
        except Exception:
            log.exception("snapshot write failed")
            self._outcome = False
            return
        self._outcome = True
        self.info = {
            **self.info,
            "count": self.info.get("count", 0) + 1,
            "last_index": raft_meta["last"][1],
            "bytes": size,
            "readings": view.counters.total_readings,
            "capture_ms": round(capture_s * 1000, 2),
            "write_ms": round((time.monotonic() - started) * 1000, 1),
            "finished_at": time.time(),
        }
        log.info("snapshot at index %s: %d bytes, %d readings, %.0f ms",
                 raft_meta["last"][1], size, view.counters.total_readings,
                 self.info["write_ms"])

    def setTransmissionData(self, data: Any) -> bool:
        """A chunk of the leader's snapshot (PySyncObj's transfer). The last chunk renames
        the received file into place; PySyncObj then calls deserialize()."""
        if data is None or not data[2]:  # not the last chunk
            return bool(super().setTransmissionData(data))
        with self._rename_lock:
            self._installs += 1
            complete = bool(super().setTransmissionData(data))
        self._receiving = complete
        return complete

    def deserialize(self) -> tuple[Any, ...]:
        started = time.monotonic()
        view, raft_meta = snapshot_file.read_file(self._path)
        self._state.load(view)
        last = tuple(raft_meta["last"])
        prev = tuple(raft_meta["prev"])
        cluster = {TCPNode(address) for address in raft_meta["cluster"]}
        how = "installed the leader's" if self._receiving else "restored"
        load_ms = round((time.monotonic() - started) * 1000, 1)
        if self._receiving:
            self.info = {**self.info, "installed": self.info.get("installed", 0) + 1,
                         "installed_index": last[1], "install_load_ms": load_ms}
        else:
            self.info = {**self.info, "restored_index": last[1], "restore_load_ms": load_ms}
            if self.align_journal is not None:
                self.align_journal(prev, last)
        self._receiving = False
        log.info("%s snapshot at index %s: %d readings, loaded in %.0f ms", how, last[1],
                 view.counters.total_readings, load_ms)
        if self.after_load is not None:
            self.after_load()
        return None, last, prev, cluster


class _ReplicatedLog(SyncObj):
    """The PySyncObj object. Exactly one replicated method, taking a versioned envelope."""

    def __init__(self, config: NodeConfig, state: StateMachine, conf: SyncObjConf) -> None:
        self._state = state
        self._config = config
        self._bytes_since_snapshot = 0
        self._last_tick_s = 0.0
        self._last_stall = 0.0
        self.stalls = 0
        self.longest_tick_s = 0.0
        self.resends_avoided = 0
        self.entries_received_again = 0
        super().__init__(config.raft_address, list(config.peers), conf)
        # Replace PySyncObj's pickle serializer (see _SnapshotStore). Safe here: with
        # autoTick=False nothing has ticked yet, so no snapshot has been loaded.
        self._snapshots = _SnapshotStore(config, state)
        self._snapshots.align_journal = self._align_journal
        self._snapshots.after_load = self.postpone_election
        self._SyncObj__serializer = self._snapshots
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
        super()._onTick(timeToWait)
        self._last_tick_s = time.monotonic() - now
        self.longest_tick_s = max(self.longest_tick_s, self._last_tick_s)

    def postpone_election(self) -> None:
        """Give the leader a full election timeout, from now, to reach us.

        Called after our OWN stalls: reading the journal, loading a snapshot (at startup or
        from the leader), replaying a long stretch of log in one tick. PySyncObj checks
        the timer at the start of the next tick, before reading the leader's queued
        heartbeats, so a node that was merely busy would start an election; without
        PreVote that bumps the term and deposes a healthy leader (measured: one follower
        restart in three did, with 1.3M readings). Only ever delays an election."""
        if self._SyncObj__transferInProgress:
            return
        self._SyncObj__raftElectionDeadline = max(
            self._SyncObj__raftElectionDeadline,
            time.monotonic() + self._SyncObj__generateRaftTimeout(),
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
        """After log compaction: return the dropped entries' heap memory and the journal
        file's stale resident pages to the OS (see heap.py). Raft thread only."""
        heap.release_free_memory_soon()
        journal_file = getattr(self._SyncObj__raftLog, "_FileJournal__journalFile", None)
        mapping = getattr(journal_file, "_ResizableFile__mm", None)
        if isinstance(mapping, mmap.mmap):
            heap.drop_mapped_pages(mapping)

    def _SyncObj__onMessageReceived(self, node: Any, message: Any) -> None:  # PySyncObj's name
        """On a successful append, PySyncObj sets the follower's next index to the index it
        acknowledged + 1, even when later entries were already sent (they always are under
        load: each new entry goes out at once). The next send then repeated every entry in
        flight: twice the pickling, encryption and traffic on the leader, and a follower
        that truncates and re-appends entries it already had ('truncating already-applied
        log entries', CRITICAL). Raft implementations that pipeline (etcd's Progress) only
        move the next index forward on success; a follower that really misses an entry
        answers reset=True, which still rewinds it."""
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
        # Extra arguments are tolerated for the same reason: a wrong call must not raise.
        # PySyncObj retries a raising method forever on every node: nothing here may raise,
        # whatever a (buggy or foreign) proposer put in the log.
        # PySyncObj increments raftLastApplied after the call: the entry is the next one.
        index = self.raftLastApplied + 1
        try:
            entries = self._SyncObj__getEntries(index, 1)
            term = entries[0][2] if entries else self.raftCurrentTerm
        except Exception:
            term = self.raftCurrentTerm
        if not isinstance(payload, bytes):
            payload = b""  # refused by the state machine as an undecodable envelope
        self._bytes_since_snapshot += len(payload)
        return self._state.apply(LogEntry(index, term, payload))


def _caught_up_now(raft_log: _ReplicatedLog, raw: dict[str, Any]) -> bool:
    """Whether this node's applied state now covers everything committed before it started:
    from then on it may serve reads (they never go back in time, even across a restart).

    PySyncObj's isReady() (applied up to the leader's commit index once) is not enough after
    a crash: a node's commit index is saved once a second, so a restarted node that becomes
    leader starts from a commit index that can be behind what it applied and served before,
    until it commits an entry of its own term; and its followers take that stale index from
    it (found by scripts/chaos.py: a whole-cluster kill -9, then reads at applied_index 5
    from a node that had served 171). Once the entry at our commit index is of the current
    term, a leader of this term committed it, so it covers every entry committed in earlier
    terms (Raft's leader completeness; the Raft paper, section 8, has a new leader commit a
    no-op before serving reads for the same reason)."""
    if not raft_log.isReady() or raw["last_applied"] < raw["commit_idx"]:
        return False
    try:
        entries = raft_log._SyncObj__getEntries(raw["commit_idx"], 1)
    except Exception:
        return False
    return bool(entries) and entries[0][2] == raw["raft_term"]


def _syncobj_conf(config: NodeConfig, on_state_changed: Callable[[int, int], None]) -> SyncObjConf:
    raft = config.raft
    return SyncObjConf(
        password=config.raft_password,
        bindAddress=config.raft_bind,
        journalFile=str(config.journal_path),
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


def _translating(callback: ProposeCallback) -> Callable[[Any, int], None]:
    """PySyncObj's (result, FAIL_REASON) callback -> ours (result, ProposeError | None)."""

    def on_done(result: Any, error: int) -> None:
        if error == FAIL_REASON.SUCCESS:
            callback(result, None)
        else:
            kind = _FAILURES.get(error, ProposeFailure.UNKNOWN_OUTCOME)
            callback(None, ProposeError(kind, None if error in _FAILURES else f"raft error {error}"))

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
        self._log: _ReplicatedLog | None = None
        self._status = unready_status()
        self._leader_changes = 0
        self._last_leader: str | None = None
        self._last_leader_change: float | None = None
        self._last_sample = 0.0
        self._last_announce = 0.0
        self._caught_up = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._raft_calls: queue.SimpleQueue[Callable[[_ReplicatedLog], None]] = queue.SimpleQueue()
        self._snapshot_bytes = staggered_snapshot_bytes(
            config.raft.compaction_bytes, config.raft_address, config.peers)

    def start(self) -> None:
        """Bind the Raft port (raises SyncObjException('BindError') if it cannot) and start
        ticking on a dedicated thread."""
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        conf = _syncobj_conf(self.config, self._on_state_changed)
        self._log = _ReplicatedLog(self.config, self.state, conf)
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

        def on_raft_thread(raft_log: _ReplicatedLog) -> None:
            change = raft_log.addNodeToCluster if action == "add" else raft_log.removeNodeFromCluster
            change(raft_address, callback=_translating(callback))

        self._on_raft_thread(on_raft_thread, callback)

    def transfer_leadership(self, callback: ProposeCallback) -> None:
        """Ask the leader to hand over to its most caught-up follower (Raft TimeoutNow)."""
        self._on_raft_thread(lambda raft_log: raft_log.transferLeadership(
            callback=_translating(callback)), callback)

    def _on_raft_thread(self, call: Callable[[_ReplicatedLog], None],
                        callback: ProposeCallback) -> None:
        # PySyncObj's admin calls read its internals: run them between ticks, not from the
        # HTTP thread.
        if self._log is None:
            callback(None, ProposeError(ProposeFailure.NOT_STARTED))
            return
        self._raft_calls.put(call)

    def status(self) -> RaftStatus:
        return self._status

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
        now = time.monotonic()
        if now - self._last_sample >= self.STATUS_PERIOD_S:
            self._last_sample = now
            self._status = self._sample(raft_log, now)
            self._maybe_announce(now)
        if raft_log._bytes_since_snapshot >= self._snapshot_bytes:
            raft_log._bytes_since_snapshot = 0
            raft_log.forceLogCompaction()
        if raft_log._snapshots.compacted:
            raft_log._snapshots.compacted = False
            raft_log.release_compacted_memory()
        raft_log.hurry_solo_commit()

    def _sample(self, raft_log: _ReplicatedLog, now: float) -> RaftStatus:
        raw = raft_log.getStatus()
        leader = raw["leader"].id if raw["leader"] is not None else None
        if leader != self._last_leader:
            self._last_leader = leader
            self._last_leader_change = now
            if leader is not None:
                self._leader_changes += 1
        self._caught_up = self._caught_up or _caught_up_now(raft_log, raw)
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
            snapshot=dict(raft_log._snapshots.info),
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
