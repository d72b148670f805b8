"""Does a stalled stream client slow ingest? One cluster, one run, phases alternated.

A fresh 3-node cluster takes a closed-loop load (client processes, batches of `--batch`
readings, `--in-flight` requests each, spread over the nodes). Phases alternate, `--rounds`
times: "none" (no stream client), then "stalled" (`--stalled` clients per node connect to
GET /api/v1/stream asking for every reading as fast as it comes, with a 4 KiB receive
buffer, and never read). Each phase's readings/s is measured after `--warmup` s; the nodes'
count of dropped stream clients is read after each stalled phase.

    .venv/bin/python scripts/bench_stream_stall.py
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lithair_node import api
from lithair_node.client.blocking_api import BlockingNodeApi
from lithair_node.lab.bench.load_clients import ClientPlan, run_clients, summarise
from lithair_node.lab.bench.results import RESULTS_DIR, shown, utc_now, write_results
from lithair_node.lab.local_cluster import LocalCluster


def open_stalled(url: str) -> socket.socket:
    """A stream client that connects, asks for everything as fast as it comes, and never
    reads (a tiny receive buffer fills at once)."""
    parts = urlsplit(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname, parts.port))
    sock.sendall(f"GET {api.STREAM}?max_rate=10000&max_readings=10000 HTTP/1.1\r\n"
                 f"Host: {parts.netloc}\r\n\r\n".encode())
    return sock


def dropped_streams(urls: list[str]) -> int:
    total = 0
    for url in urls:
        with BlockingNodeApi(url) as node:
            total += node.get(api.STREAM_CLIENTS).json()["dropped_total"]
    return total


def run_phase(cluster: LocalCluster, args: argparse.Namespace, stalled: int,
              offset: int) -> dict[str, Any]:
    sockets = [open_stalled(url) for url in cluster.urls for _ in range(stalled)]
    dropped_before = dropped_streams(cluster.urls)
    try:
        start = time.time() + 1.0
        stop = start + args.warmup + args.seconds
        plans = [ClientPlan("lithair", offset + c, cluster.urls, args.batch, 100, args.in_flight,
                            start, stop) for c in range(args.clients)]
        summary = summarise(run_clients(plans), args.batch, (start + args.warmup, stop))
    finally:
        for sock in sockets:
            sock.close()
    return {"stalled_clients": len(sockets),
            "dropped": dropped_streams(cluster.urls) - dropped_before,
            "readings_per_s": summary["readings_per_s"],
            "p99_ms": summary["latency_ms"]["p99"], "errors": summary["errors"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stalled", type=int, default=4, help="stalled clients per node")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--in-flight", type=int, default=8)
    args = parser.parse_args(argv)
    phases = []
    with tempfile.TemporaryDirectory(prefix="lithair-stall-") as base, \
            LocalCluster(Path(base), nodes=3) as cluster:
        cluster.wait_ready(timeout_s=60)
        for round_number in range(args.rounds):
            for stalled in (0, args.stalled):
                phase = run_phase(cluster, args, stalled, offset=len(phases) * args.clients)
                phase["round"] = round_number
                phases.append(phase)
                print(f"round {round_number}  stalled {phase['stalled_clients']:>2}  "
                      f"{phase['readings_per_s']:>9,} readings/s  p99 {phase['p99_ms']} ms  "
                      f"dropped {phase['dropped']}  errors {phase['errors']}", flush=True)
    mean = {label: round(sum(p["readings_per_s"] for p in phases if (p["stalled_clients"] > 0) == on)
                         / args.rounds) for label, on in (("none", False), ("stalled", True))}
    print(f"mean readings/s: without {mean['none']:,}, with stalled clients {mean['stalled']:,} "
          f"({mean['stalled'] / max(1, mean['none']):.2f}x)")
    path = write_results(RESULTS_DIR, "stream-stall", {"at": utc_now(), "args": vars(args),
                                                        "phases": phases, "mean": mean})
    print(f"results: {shown(path)}")
    return 0
