"""What a refused write costs the node that refuses it, beside what an accepted one costs.

A lone node of three never has a leader, so it refuses every write with 503 at admission,
before the body is read: the very path of a 429 for queue delay (`Proposer.check_admission`
before the body). Its CPU per refused request is compared with the CPU per accepted request
of a node of the sweep's cluster at the same S (the three nodes' CPU over the acknowledged
requests, divided by three: each node receives a third of them and applies all).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from lithair_node import api
from lithair_node.lab.bench.ingest_systems import measure_load
from lithair_node.lab.bench.procfs import cpu_seconds
from lithair_node.lab.bench.results import code_env
from lithair_node.lab.local_cluster import LocalCluster, http_json
from lithair_node.polling import wait_until

_IDLE_S = 3.0


def refused_cpu_ms(args: argparse.Namespace, batch: int, code: Path | None = None) -> dict[str, Any]:
    """CPU ms per refused request of a leaderless node, under `args.concurrency` in flight.
    `code`: run the node from this source tree (a baseline) instead of this checkout."""
    with tempfile.TemporaryDirectory(prefix="bench-refusal-", dir=args.tmp) as tmp:
        env = dict(item.split("=", 1) for item in args.lithair_env)
        if code is not None:
            env.update(code_env(code))
        cluster = LocalCluster(Path(tmp), nodes=3, extra_args=tuple(args.lithair_arg), env=env)
        try:
            cluster.start_node(0)
            wait_until(lambda: http_json(f"{cluster.urls[0]}{api.HEALTH}")[0] == 200, 60,
                       period_s=0.2, what="the lone node answers")
            # Its Raft thread keeps calling elections: that CPU is no refusal's, subtract it.
            pid = cluster.processes[0].pid
            idle0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(_IDLE_S)
            idle = (cpu_seconds(pid) - idle0) / (time.monotonic() - t0)
            summary = measure_load(args, "lithair", [cluster.urls[0]], {"lone": cluster.processes[0].pid},
                                   batch)
        finally:
            cluster.stop()
    refused = sum(summary["errors"].values())
    # Errors are counted over warm-up + window (+0.5 s drain); CPU over the window only.
    per_s = refused / (args.warmup + args.duration + 0.5)
    cpu = max(0.0, summary["processes"]["lone"]["cpu_pct"] / 100 - idle)
    return {"refused_per_s": round(per_s, 1), "errors": summary["errors"],
            "idle_cpu_pct": round(100 * idle, 1),
            "cpu_ms_per_refused": round(1000 * cpu / per_s, 3) if per_s else None}


def accepted_cpu_ms(row: dict[str, Any]) -> float | None:
    """CPU ms per accepted request of one node of a sweep row's three."""
    processes = row.get("processes") or {}
    if not processes or not row.get("requests_per_s"):
        return None
    cpu = sum(p["cpu_pct"] for p in processes.values()) / 100
    return round(1000 * cpu / row["requests_per_s"] / len(processes), 3)
