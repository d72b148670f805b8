"""The naive column of ingest.py: PySyncObj with its defaults, one pickled reading per
replicated call, each node a process of its own (ingest.py --naive-node)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lithair_node.lab.bench.load_clients import BodyFactory
from lithair_node.lab.bench.procfs import CpuMeter
from lithair_node.lab.local_cluster import free_ports
from lithair_node.polling import wait_until


def naive_node(spec: dict[str, Any]) -> None:
    """One process of the naive cluster (run by bench_naive through --naive-node)."""
    import threading

    from pysyncobj import FAIL_REASON, SyncObj, replicated

    class Store(SyncObj):
        def __init__(self, me: str, others: list[str]) -> None:
            super().__init__(me, others)  # every setting at its default
            self.readings: dict[tuple[Any, Any], dict[str, Any]] = {}

        @replicated
        def add(self, reading: dict[str, Any]) -> None:
            self.readings[(reading["sensor_id"], reading["timestamp"])] = reading

    me = spec["addrs"][spec["index"]]
    store = Store(me, [a for a in spec["addrs"] if a != me])
    wait_until(lambda: store._getLeader() is not None and store.isReady(), 60,
               period_s=0.1, what="naive leader")
    time.sleep(max(0.0, spec["start_at"] - time.time()))
    result: dict[str, Any] = {"leader": store._isLeader()}
    if store._isLeader():
        window = threading.Semaphore(spec["in_flight"])
        acked = [0]

        def done(_res: Any, err: int) -> None:
            if err == FAIL_REASON.SUCCESS:
                acked[0] += 1
            window.release()

        factory = BodyFactory(0, spec["sensors"], 1000)
        marks: dict[str, int] = {}
        number = 0
        while time.time() < spec["hi"]:
            for reading in factory.readings(number):
                window.acquire()
                store.add(reading, callback=done)
            number += 1
            now = time.time()
            if "lo" not in marks and now >= spec["lo"]:
                marks["lo"], marks["lo_t"] = acked[0], now  # type: ignore[assignment]
        marks["hi"], marks["hi_t"] = acked[0], time.time()  # type: ignore[assignment]
        result["readings_per_s"] = round((marks["hi"] - marks["lo"]) / (marks["hi_t"] - marks["lo_t"]))
    else:
        time.sleep(max(0.0, spec["hi"] + 2 - time.time()))
    result["applied"] = len(store.readings)
    Path(spec["out"]).write_text(json.dumps(result))
    store.destroy()
    os._exit(0)


def bench_naive(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-naive-", dir=args.tmp) as tmp:
        addrs = [f"127.0.0.1:{p}" for p in free_ports(3)]
        start_at = time.time() + 4.0
        lo = start_at + args.warmup
        hi = lo + args.duration
        procs = []
        for i in range(3):
            spec = {"index": i, "addrs": addrs, "start_at": start_at, "lo": lo, "hi": hi,
                    "in_flight": 1000, "sensors": args.sensors, "out": f"{tmp}/node{i}.json"}
            # ingest.py's hidden --naive-node flag runs naive_node in a process of its own.
            command = [sys.executable, "-m", "lithair_node.lab.bench.ingest", "--naive-node",
                       json.dumps(spec)]
            procs.append(subprocess.Popen(command, start_new_session=True))
        meter = CpuMeter({f"node{i}": p.pid for i, p in enumerate(procs)})
        time.sleep(max(0.0, lo - time.time()))
        meter.start()
        time.sleep(max(0.0, hi - time.time()))
        usage = meter.stop()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        results = [json.loads(Path(f"{tmp}/node{i}.json").read_text())
                   for i in range(3) if Path(f"{tmp}/node{i}.json").exists()]
    leader = next((i for i, r in enumerate(results) if r.get("leader")), None)
    if leader is None:
        return {"error": "no naive leader result", "results": results}
    processes = {("leader" if i == leader else f"follower{n}"): usage[f"node{i}"]
                 for n, i in enumerate([leader] + [i for i in range(3) if i != leader])}
    return {"readings_per_s": results[leader]["readings_per_s"], "processes": processes,
            "applied": [r["applied"] for r in results],
            "latency_ms": {"p50": None, "p95": None, "p99": None}}
