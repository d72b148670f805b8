"""Our snapshots behind PySyncObj's Serializer interface: the versioned msgpack files of
machine/snapshot_file.py instead of PySyncObj's pickle, written from immutable views in a
background thread (no fork, no tick stall)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pysyncobj import SERIALIZER_STATE
from pysyncobj.node import TCPNode
from pysyncobj.serializer import Serializer

from lithair_node.machine import snapshot_file
from lithair_node.machine.state import StateMachine
from lithair_node.node.config import NodeConfig

log = logging.getLogger(__name__)


class _StaleSnapshot(Exception):
    """A snapshot from the leader was installed while ours was being written."""


class SnapshotStore(Serializer):
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
        # Set by ReplicatedLog: keep the journal entries a restored snapshot does not cover;
        # postpone our election timer once a (long) load is done.
        self.align_journal: Callable[[tuple[Any, ...], tuple[Any, ...]], None] | None = None
        self.after_load: Callable[[], None] | None = None
        # Set by ReplicatedLog: a capture (whichever trigger asked for it) restarts the count
        # of log bytes the next snapshot will cover.
        self.after_capture: Callable[[], None] | None = None
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
        view = self._state.capture()
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
        chunk, is_first, _ = data
        # PySyncObj renames the received file without fsync. Write the last chunk as a
        # middle one, fsync the temp file, then let PySyncObj close and rename it (an empty
        # last chunk), then fsync the directory: once PySyncObj clears the journal for this
        # snapshot, the snapshot is on disk.
        if not super().setTransmissionData((chunk, is_first, False)):
            incoming = self._Serializer__incomingTransmissionFile  # type: ignore[attr-defined]
            if incoming is None:
                return False
            incoming.flush()
            os.fsync(incoming.fileno())
        with self._rename_lock:
            self._installs += 1
            complete = bool(super().setTransmissionData((b"", False, True)))
        if complete:
            snapshot_file.fsync_dir(self._path.parent)
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
