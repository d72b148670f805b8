"""The systems ingest.py measures over HTTP, and its in-process ceiling: each returns one
run's row (readings/s, latency, CPU and RSS per process) for a batch size."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from lithair_node.lab.bench.load_clients import BodyFactory, ClientPlan, run_metered
from lithair_node.lab.bench.results import (
    code_env,
)
from lithair_node.lab.local_cluster import LocalCluster, free_ports
from lithair_node.machine.commands import encode_ingest, make_encoded_batch
from lithair_node.machine.state import LogEntry, StateMachine
from lithair_node.node.ingest.validation import Limits, validate_batch
from lithair_node.polling import wait_until

ETCD_HOWTO = "apt-get install etcd-server   (Debian/Ubuntu; provides etcd 3.4)"



# -- 1. ceiling -------------------------------------------------------------------------


def bench_ceiling(args: argparse.Namespace, batch: int) -> dict[str, Any]:
    """Apply pre-validated entries (one client batch each) in this process."""
    total = min(args.ceiling_readings, 2_000_000)
    factories = [BodyFactory(c, args.sensors, batch) for c in range(args.clients)]
    entries = []
    for number in range(max(1, total // batch // args.clients)):
        for c, factory in enumerate(factories):
            body = orjson.loads(factory.body(number))
            columns, received = validate_batch(body, Limits(max_readings=10_000))
            encoded = make_encoded_batch(columns, f"bench-c{c}-{number}", received)
            entries.append(encode_ingest([encoded]))
    # Best of three passes on a fresh state: a single pass on a shared 2-core box is easily
    # slowed by a burst from another process, and the ceiling should be the uncontended one.
    elapsed = float("inf")
    for _ in range(3):
        state = StateMachine()
        started = time.perf_counter()
        for index, payload in enumerate(entries, start=1):
            state.apply(LogEntry(index, 1, payload))
        elapsed = min(elapsed, time.perf_counter() - started)
        stored = state.stats()["total_readings"]
        assert stored == len(entries) * batch, "the ceiling run must store every reading"
    return {"readings_per_s": round(stored / elapsed), "readings": stored,
            "seconds": round(elapsed, 3)}


# -- 2. Lithair --------------------------------------------------------------------------


def _plans(args: argparse.Namespace, kind: str, urls: list[str], batch: int, start_at: float,
           stop_at: float, rate_rps: float | None = None, columnar: bool = False) -> list[ClientPlan]:
    per_client = max(1, args.concurrency // args.clients)
    plans = []
    for c in range(args.clients):
        targets = urls if args.target == "all" else [urls[0]]
        # Each client talks to one node (round-robin over clients) to keep its connections warm.
        mine = [targets[c % len(targets)]]
        plans.append(ClientPlan(kind, c, mine, batch, args.sensors, per_client, start_at, stop_at,
                                rate=None if rate_rps is None else rate_rps / args.clients,
                                phase_s=0.0 if rate_rps is None else c / rate_rps,
                                columnar=columnar))
    return plans


def _window(args: argparse.Namespace) -> tuple[float, float, float]:
    start_at = time.time() + 1.0
    lo = start_at + args.warmup
    return start_at, lo, lo + args.duration


def measure_load(args: argparse.Namespace, kind: str, urls: list[str], pids: dict[str, int],
             batch: int, rate_rps: float | None = None, columnar: bool = False) -> dict[str, Any]:
    start_at, lo, hi = _window(args)
    plans = _plans(args, kind, urls, batch, start_at, hi + 0.5, rate_rps, columnar)
    return run_metered(plans, pids, batch, (lo, hi))


def _lithair_cluster(args: argparse.Namespace, base: Path) -> tuple[LocalCluster, int]:
    env = dict(item.split("=", 1) for item in args.lithair_env)
    cluster = LocalCluster(base, nodes=3, extra_args=tuple(args.lithair_arg), env=env).start()
    try:
        cluster.wait_ready(timeout_s=60)
    except BaseException:
        cluster.stop()
        raise
    leader = cluster.leader_index()
    assert leader is not None
    return cluster, leader


def bench_lithair(args: argparse.Namespace, batch: int, rate_rps: float | None = None,
                  code: Path | None = None, columnar: bool = False) -> dict[str, Any]:
    """`code`: run the nodes from this source tree (a baseline) instead of this checkout."""
    with tempfile.TemporaryDirectory(prefix="bench-lithair-", dir=args.tmp) as tmp:
        if code is not None:
            extra = [f"{k}={v}" for k, v in code_env(code).items()]
            args = argparse.Namespace(**{**vars(args), "lithair_env": [*args.lithair_env, *extra]})
        cluster, leader = _lithair_cluster(args, Path(tmp))
        try:
            order = [leader] + [i for i in range(3) if i != leader]
            urls = [cluster.specs[i].url for i in order]
            pids = {("leader" if i == leader else f"follower{n}"): cluster.processes[i].pid
                    for n, i in enumerate(order)}
            summary = measure_load(args, "lithair", urls, pids, batch, rate_rps, columnar)
            role = dict(zip(urls, pids, strict=True))  # leader, follower1, follower2
            summary["latency_ms_by_target"] = {
                role.get(url, url): v for url, v in summary["latency_ms_by_target"].items()}
            stats = cluster.wait_converged(timeout_s=120)
            summary["converged"] = {"total_readings": stats[0]["total_readings"],
                                    "state_digest": stats[0]["state_digest"],
                                    "digests_equal": len({s["state_digest"] for s in stats}) == 1}
            status = cluster.status(leader) or {}
            summary["leader_changes"] = status.get("leader_changes")
            summary["journal"] = status.get("journal")  # durability, fsync latency
        finally:
            cluster.stop()
    return summary


# -- 3. etcd ----------------------------------------------------------------------------


def etcd_binary() -> str | None:
    return shutil.which("etcd")


def _post_json(url: str, payload: dict[str, Any], timeout: float = 2.0) -> Any:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def bench_etcd(args: argparse.Namespace, batch: int) -> dict[str, Any]:
    binary = etcd_binary()
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="bench-etcd-", dir=args.tmp) as tmp:
        client_ports, peer_ports = free_ports(3), free_ports(3)
        names = [f"e{i + 1}" for i in range(3)]
        initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(names, peer_ports, strict=True))
        procs = []
        for i, name in enumerate(names):
            cmd = [binary, "--name", name, "--data-dir", f"{tmp}/{name}",
                   "--listen-client-urls", f"http://127.0.0.1:{client_ports[i]}",
                   "--advertise-client-urls", f"http://127.0.0.1:{client_ports[i]}",
                   "--listen-peer-urls", f"http://127.0.0.1:{peer_ports[i]}",
                   "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_ports[i]}",
                   "--initial-cluster", initial, "--initial-cluster-state", "new",
                   "--initial-cluster-token", "bench",
                   # Batches of 5,000 readings are ~1 MiB as JSON; a 30 s run writes GBs.
                   "--max-request-bytes", str(8 * 1024 * 1024),
                   "--quota-backend-bytes", str(8 * 1024**3),
                   "--log-level", "error"]
            logf = open(f"{tmp}/{name}.log", "wb")  # noqa: SIM115
            procs.append(subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        urls = [f"http://127.0.0.1:{p}" for p in client_ports]
        try:
            def statuses() -> list[Any] | None:
                try:
                    found = [_post_json(u + "/v3/maintenance/status", {}) for u in urls]
                except OSError:
                    return None
                return found if all(s.get("leader") for s in found) else None

            found = wait_until(statuses, 60, period_s=0.1, what="etcd leader")
            leader = next(i for i, s in enumerate(found) if s["leader"] == s["header"]["member_id"])
            order = [leader] + [i for i in range(3) if i != leader]
            pids = {("leader" if i == leader else f"follower{n}"): procs[i].pid
                    for n, i in enumerate(order)}
            summary = measure_load(args, "etcd", [urls[i] for i in order], pids, batch)
            after = _post_json(urls[leader] + "/v3/maintenance/status", {})
            summary["db_size_mb"] = round(int(after.get("dbSize", 0)) / 2**20, 1)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return summary
