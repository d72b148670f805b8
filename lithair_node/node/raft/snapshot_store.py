"""Our snapshots behind PySyncObj's Serializer interface: the versioned msgpack files of
machine/snapshot_file.py instead of PySyncObj's pickle, written from immutable views in a
background thread (no fork, no tick stall). On disk a snapshot is linked (format 4): a
small snapshot.lsnap naming segment files and hot chunk files in snapshot-segments/
(segment_files.py), so each snapshot writes only the segments the last one lacked and the
hot rows appended since it. A lagging follower is sent the
self-contained stream (format 2/3, built on the fly) and lays it out the same way."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pysyncobj import SERIALIZER_STATE
from pysyncobj.node import TCPNode
from pysyncobj.serializer import Serializer

from lithair_node.machine import snapshot_file
from lithair_node.machine.capture import StateView
from lithair_node.machine.snapshot_transfer import InlineReader
from lithair_node.machine.state import StateMachine
from lithair_node.node.config import NodeConfig
from lithair_node.node.raft.journal.durable_file import write_durably
from lithair_node.node.raft.node_io import node_file_io
from lithair_node.node.raft.segment_files import SegmentFiles

log = logging.getLogger(__name__)

INCOMING_SUFFIX = ".incoming"  # the leader's inline stream, until it is laid out


class SnapshotStore(Serializer):
    """PySyncObj's Serializer interface, writing our versioned msgpack snapshots.

    serialize() runs on the Raft thread: it only captures immutable views of the state
    (O(sensors)) and starts a writer thread. PySyncObj polls checkSerializing() each tick and
    truncates the log once it reports SUCCESS. Lagging followers are sent the inline
    stream in PySyncObj's chunked transfer (getTransmissionData/setTransmissionData); the
    follower lays it out as segment files + snapshot.lsnap before loading it.

    The snapshot on disk is read in __init__ (before PySyncObj's first tick would), so that
    a missing or damaged one stops the node with an error naming the file: PySyncObj's own
    load swallows every exception, which would start the node on a partial state.
    """

    def __init__(self, config: NodeConfig, state: StateMachine) -> None:
        super().__init__(str(config.snapshot_path), config.raft.snapshot_chunk_bytes,
                         False, None, None, None)
        self._path = config.snapshot_path
        self._state = state
        self._io = node_file_io(config)
        self._files = SegmentFiles(self._path.parent, self._io)
        self._batch = config.raft.snapshot_chunk_bytes
        self._outgoing: dict[Any, list[Any]] = {}  # transmission id -> [reader, bytes sent]
        self._incoming: int | None = None  # fd of the leader's stream being received
        self._writer: threading.Thread | None = None
        self._outcome: bool | None = None
        self._current_id: int | None = None
        # Serialises "rename our snapshot into place" with "install the leader's": a local
        # snapshot that finishes after an install must not replace the newer file.
        self._rename_lock = threading.Lock()
        self._installs = 0
        self._receiving = False
        # Set by ReplicatedLog: keep the journal entries a restored snapshot does not cover;
        # postpone our election timer once a (long) load is done.
        self.align_journal: Callable[[tuple[Any, ...], tuple[Any, ...]], None] | None = None
        self.after_load: Callable[[], None] | None = None
        # Set by ReplicatedLog: a capture (whichever trigger asked for it) restarts the count
        # of log bytes the next snapshot will cover.
        self.after_capture: Callable[[], None] | None = None
        self.info: dict[str, Any] = {"count": 0, "installed": 0}
        self.compacted = False
        self._loaded: tuple[StateView, dict[str, Any]] | None = None
        if self._path.is_file():
            started = time.monotonic()
            self._loaded = self._read()
            self.info["restore_read_ms"] = round((time.monotonic() - started) * 1000, 1)

    def checkSerializing(self) -> tuple[int, int | None]:
        if self._writer is None:
            return SERIALIZER_STATE.NOT_SERIALIZING, None
        if self._writer.is_alive():
            return SERIALIZER_STATE.SERIALIZING, self._current_id
        self._writer = None
        if self._outcome:
            # Followers mid-transfer restart with the new file (its log position changed).
            self._close_outgoing()
            # PySyncObj drops the entries the snapshot covers in this tick: give the memory
            # back once they are gone (RaftNode._on_tick, raft_node.py).
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
        # Under the lock only what changes; the engine blob (mostly the hot buffer, tens of
        # MB) is packed by the writer thread: packed here it held the Raft thread (and the
        # GIL) for 50-90 ms per snapshot, the p99 of the leader's acks.
        view = self._state.capture_unpacked(split_hot=True)
        capture_s = time.monotonic() - started
        if self.after_capture is not None:
            self.after_capture()
        self._current_id = id
        self._outcome = None
        self._writer = threading.Thread(
            target=self._write, args=(view, raft_meta, started, capture_s, self._installs),
            name="snapshot-writer", daemon=True,
        )
        self._writer.start()

    def _write(self, captured: Callable[[], StateView], raft_meta: dict[str, Any], started: float,
               capture_s: float, installs_at_capture: int) -> None:
        try:
            view = captured()
            # New segment and hot chunk files first (durable), then the small snapshot
            # naming them, then the files only the previous snapshot named.
            refs, files, segment_bytes = self._files.ensure(view.segments)
            assert view.hot is not None  # captured with split_hot
            hot_refs, hot_files, hot_bytes = self._files.ensure_hot(view.hot)
            manifest = snapshot_file.dump_linked_bytes(view, raft_meta, refs, hot_refs)
            with self._rename_lock:
                if self._installs != installs_at_capture:
                    log.info("snapshot at index %s dropped: the leader's snapshot was "
                             "installed meanwhile", raft_meta["last"][1])
                    self._outcome = False
                    return
                write_durably(self._path, manifest, self._io)
                self._files.collect(refs + hot_refs)
        except Exception:
            log.exception("snapshot write failed")
            self._outcome = False
            return
        self._outcome = True
        self.info = {
            **self.info,
            "count": self.info.get("count", 0) + 1,
            "last_index": raft_meta["last"][1],
            "bytes": len(manifest) + sum(ref["bytes"] for ref in refs + hot_refs),
            "bytes_written": len(manifest) + segment_bytes + hot_bytes,
            "segment_files": len(refs),
            "segment_files_written": files,
            "hot_files": len(hot_refs),
            "hot_bytes_written": hot_bytes,
            "readings": view.counters.total_readings,
            "capture_ms": round(capture_s * 1000, 2),
            "write_ms": round((time.monotonic() - started) * 1000, 1),
            "finished_at": time.time(),
        }
        log.info("snapshot at index %s: %d bytes written (%d new segment files of %d, "
                 "%d new hot chunks of %d), %d readings, %.0f ms", raft_meta["last"][1],
                 self.info["bytes_written"], files, len(refs), hot_files, len(hot_refs),
                 view.counters.total_readings, self.info["write_ms"])

    # -- the transfer to a lagging follower: the inline stream, built on the fly ----------

    def getTransmissionData(self, transmissionID: Any) -> tuple[bytes, bool, bool] | None:
        sending = self._outgoing.get(transmissionID)
        try:
            if sending is None:
                sending = self._outgoing[transmissionID] = [InlineReader(self._path), 0]
            data = sending[0].read(self._batch)
        except (OSError, snapshot_file.SnapshotError):
            # Retried from the start on the next call (None: the follower ignores it).
            log.exception("cannot send our snapshot")
            self.cancelTransmisstion(transmissionID)
            return None
        is_first = sending[1] == 0
        sending[1] += len(data)
        if not data:
            self.cancelTransmisstion(transmissionID)
        return data, is_first, not data

    def cancelTransmisstion(self, id: Any) -> None:  # PySyncObj's spelling
        sending = self._outgoing.pop(id, None)
        if sending is not None:
            sending[0].close()

    def _close_outgoing(self) -> None:
        for transmission in list(self._outgoing):
            self.cancelTransmisstion(transmission)

    def setTransmissionData(self, data: Any) -> bool:
        """A chunk of the leader's snapshot stream. After the last one, the stream is laid
        out as our own snapshot (durably) and True tells PySyncObj to call deserialize()."""
        if data is None:
            return False
        chunk, is_first, is_last = data
        incoming = str(self._path) + INCOMING_SUFFIX
        if is_first:
            self._drop_incoming()
            self._incoming = self._io.open(incoming, truncate=True)
        elif self._incoming is None:
            return False
        try:
            self._io.write(self._incoming, [chunk])
            if not is_last:
                return False
            self._io.fsync(self._incoming)
        except OSError:
            log.exception("cannot write the leader's snapshot")
            self._drop_incoming()
            return False
        self._io.close(self._incoming)
        self._incoming = None
        try:
            self._install(Path(incoming))
        except Exception:
            log.exception("cannot install the leader's snapshot")
            return False
        return True

    def _drop_incoming(self) -> None:
        if self._incoming is not None:
            self._io.close(self._incoming)
            self._incoming = None

    def _install(self, incoming: Path) -> None:
        view, raft_meta = snapshot_file.read_file(incoming)
        with self._rename_lock:
            self._installs += 1  # a local snapshot captured before this must not replace it
            refs, _, _ = self._files.ensure(view.segments)
            write_durably(self._path, snapshot_file.dump_linked_bytes(view, raft_meta, refs),
                          self._io)
            self._files.collect(refs)
        self._io.unlink(str(incoming))
        self._loaded, self._receiving = (view, raft_meta), True

    # -- loading --------------------------------------------------------------------------

    def _read(self) -> tuple[StateView, dict[str, Any]]:
        with open(self._path, "rb", buffering=1024 * 1024) as source:
            view, raft_meta, refs = snapshot_file.load_with_refs(source, self._files.directory)
        if refs is not None:
            self._files.remember(view.segments, refs)
        return view, raft_meta

    def deserialize(self) -> tuple[Any, ...]:
        started = time.monotonic()
        loaded, self._loaded = self._loaded, None
        view, raft_meta = loaded if loaded is not None else self._read()
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
