"""The state lock is a plain Lock, so no method of the machine may take it twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from lithair_node.machine.commands import encode_announce, encode_barrier, encode_settings
from lithair_node.machine.state import LogEntry, StateMachine
from tests.machine.state_helpers import ingest_entry


def _every_public_method(state: StateMachine) -> list[tuple[str, Callable[[], Any]]]:
    readings = [{"sensor_id": f"s{i % 3}", "timestamp": i, "location": f"room-{i % 2}",
                 "temperature": float(i % 7)} for i in range(60)]
    return [
        ("apply ingest", lambda: state.apply(ingest_entry(2, readings, key="k"))),
        ("apply announce", lambda: state.apply(LogEntry(3, 1, encode_announce("a:1", "n1", "http://a")))),
        ("apply settings", lambda: state.apply(LogEntry(4, 1, encode_settings({"min_count": 5})))),
        ("apply barrier", lambda: state.apply(LogEntry(5, 1, encode_barrier(1)))),
        ("apply garbage", lambda: state.apply(LogEntry(6, 1, b"\x00"))),
        ("read", lambda: state.read(["s0", "nope"], running=True)),
        ("views", lambda: state.views(["s1"])),
        ("series_view", lambda: state.series_view("s2")),
        ("metric_names", state.metric_names),
        ("cell_stats", lambda: state.cell_stats((0,))),
        ("members", state.members),
        ("stats", state.stats),
        ("digest", state.digest),
        ("applied_index", lambda: state.applied_index),
        ("sensor_ids_since", lambda: state.sensor_ids_since(0)),
        ("locations", state.locations),
        ("sensors_at", lambda: state.sensors_at("room-0")),
        ("anomalies", state.anomalies),
        ("capture", state.capture),
        ("load", lambda: state.load(state.capture())),
        ("snapshot/restore", lambda: state.restore(state.snapshot())),
    ]


def test_no_method_takes_the_lock_twice() -> None:
    state = StateMachine()
    assert type(state.lock) is type(threading.Lock())  # not reentrant: a re-entry deadlocks
    reached: list[str] = []
    failures: list[BaseException] = []

    def call_all() -> None:
        try:
            for name, call in _every_public_method(state):
                reached.append(name)
                call()
            reached.append("done")
        except BaseException as exc:  # reported by the test thread below
            failures.append(exc)

    worker = threading.Thread(target=call_all, daemon=True)  # a deadlocked one must not block exit
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), f"deadlock: {reached[-1]} took the state lock twice"
    assert not failures, failures
    assert reached[-1] == "done"
    assert not state.lock.locked()
    assert state.stats()["total_readings"] == 60 and state.members() == {
        "a:1": {"node_id": "n1", "http": "http://a"}}
