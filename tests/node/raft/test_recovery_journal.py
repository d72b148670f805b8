"""Snapshot + journal recovery of a real (single-node) PySyncObj replica, in process."""

from __future__ import annotations

import threading
from pathlib import Path

from pysyncobj import SERIALIZER_STATE

from lithair_node.lab.local_cluster import free_ports
from lithair_node.machine.state import StateMachine
from lithair_node.node.config import NodeConfig
from lithair_node.node.raft.replication import RaftNode
from lithair_node.polling import wait_until
from tests.machine.state_helpers import ingest_entry


def _start(data_dir: Path, port: int) -> RaftNode:
    config = NodeConfig(node_id="solo", http_host="127.0.0.1", http_port=8000,
                        raft_address=f"127.0.0.1:{port}", peers=(), data_dir=data_dir,
                        raft_password="test-password")
    node = RaftNode(config, StateMachine())
    node.start()
    _wait(lambda: node.status().is_leader and node.status().ready, "leadership")
    return node


def _wait(condition, what: str, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    wait_until(condition, timeout_s, period_s=0.01, what=what)


def _write(node: RaftNode, batch: int) -> None:
    readings = [{"sensor_id": f"s{batch}", "timestamp": 1_000 + i, "t": float(i)}
                for i in range(10)]
    done = threading.Event()
    outcome: list[object] = []

    def on_done(result: object, error: object) -> None:
        outcome.append(error)
        done.set()

    node.propose(ingest_entry(0, readings, key=f"k{batch}").payload, on_done)
    assert done.wait(10) and outcome == [None]


def test_a_kill_between_snapshot_rename_and_log_truncation_loses_no_entry(tmp_path: Path) -> None:
    """The snapshot file is renamed into place by our writer thread; PySyncObj truncates its
    journal on a later tick. A node killed in between restarts with a snapshot that lies
    INSIDE its journal. PySyncObj alone would discard the whole journal, entries after the
    snapshot included; replication.py keeps them."""
    port = free_ports(1)[0]
    node = _start(tmp_path, port)
    for batch in range(10):
        _write(node, batch)

    store = node._log._snapshots  # type: ignore[union-attr]
    real_check = store.checkSerializing
    written = threading.Event()

    def never_finishes() -> tuple[int, int | None]:
        state, snapshot_id = real_check()
        if state == SERIALIZER_STATE.SUCCESS:  # renamed: hide it, as if killed right now
            written.set()
        return (SERIALIZER_STATE.SERIALIZING, snapshot_id) if written.is_set() else (state, snapshot_id)

    store.checkSerializing = never_finishes  # type: ignore[method-assign]
    node.force_snapshot()
    assert written.wait(10)
    log_length = node.status().log_length
    for batch in range(10, 15):
        _write(node, batch)
    _wait(lambda: node.status().log_length >= log_length + 5, "the journal to grow")
    assert node.state.stats()["total_readings"] == 150
    node.stop()

    restarted = _start(tmp_path, port)
    try:
        _wait(lambda: restarted.state.stats()["total_readings"] >= 150, "replay", 10)
        stats = restarted.state.stats()
        assert (stats["total_readings"], stats["batches_accepted"]) == (150, 15)
        assert restarted.status().snapshot["restored_index"] > 0
    finally:
        restarted.stop()
