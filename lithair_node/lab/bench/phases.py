"""Lithair's published injection phases, replayed into a fresh 3-node cluster (issue 11).

    .venv/bin/python scripts/bench_phases.py                    # 100k,1m,5m,20m (~17 min on 2 shared cores)
    .venv/bin/python scripts/bench_phases.py --phases 100k,1m

A phase is N sensors x 1,000 readings each (100 / 1K / 5K / 20K sensors). Each phase gets
a fresh cluster (`LocalCluster`, the checkout's defaults: journals, fsync, whatever storage
engine the state machine has), written through HTTP by `--clients` processes with
`--in-flight` requests in flight each, batch 1,000, spread over the three nodes. Each client
owns N / clients sensors (round-robin bodies of load_clients.BodyFactory) and sends through
ClusterClient, which retries a refused or unanswered batch with the same Idempotency-Key,
so every reading is stored once even when a node answers 429.

Per phase: time from the first send to the last acknowledgement, readings/s, resident
memory per node after the phase and its peak during it, and an integrity check: every
batch acked, every node's `total_readings` equal to the readings sent, one state digest.
Prints Lithair's row beside ours with the ratios against issue 11's targets, and writes
JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lithair_node import api
from lithair_node.client.cluster_client import ACKED, ClusterClient
from lithair_node.lab.bench.load_clients import BodyFactory
from lithair_node.lab.bench.procfs import CpuMeter, machine_info, peak_rss_mb, rss_mb
from lithair_node.lab.bench.results import RESULTS_DIR, shown, utc_now, write_results
from lithair_node.lab.local_cluster import LocalCluster

READINGS_PER_SENSOR = 1000


@dataclass(frozen=True)
class Published:
    """One of Lithair's phases as published (single node, Rust, persistent)."""

    sensors: int
    seconds: float | None
    readings_per_s: float
    rss_mb: float | None


# anchors.md; the 5M phase was published as a rate only (the collapse).
LITHAIR: dict[str, Published] = {
    "100k": Published(100, 1.26, 79_600, 19),
    "1m": Published(1_000, 12.1, 82_500, 209),
    "5m": Published(5_000, None, 1_350, None),
    "20m": Published(20_000, 236, 84_700, 2_100),
}
TARGET_RATE_X = 3.0  # every phase >= 3x Lithair's rate
TARGET_MEMORY_FRACTION = 0.25  # and <= 1/4 of its memory
COLLAPSE_FRACTION = 0.5  # a phase under half the fastest phase's rate has collapsed


@dataclass(frozen=True)
class ClientPlan:
    phase: str
    client: int
    urls: list[str]
    sensors: int  # this client's own
    batches: int
    batch: int
    in_flight: int
    start_at: float  # time.time(): every client starts together


async def _send_all(plan: ClientPlan) -> dict[str, Any]:
    factory = BodyFactory(plan.client, plan.sensors, plan.batch)
    numbers = iter(range(plan.batches))
    outcomes: dict[str, int] = {}
    attempts = 0
    async with ClusterClient(plan.urls, deadline_s=300, encoding="json",
                             max_connections=plan.in_flight + 4) as client:

        async def worker() -> None:
            nonlocal attempts
            for number in numbers:
                result = await client.post_encoded(
                    factory.body(number), api.JSON_TYPE, plan.batch,
                    f"phases-{plan.phase}-c{plan.client}-{number}",
                    url=plan.urls[number % len(plan.urls)])
                outcomes[result.status] = outcomes.get(result.status, 0) + 1
                attempts += result.attempts

        await asyncio.sleep(max(0.0, plan.start_at - time.time()))
        started = time.time()
        await asyncio.gather(*(worker() for _ in range(plan.in_flight)))
    return {"started": started, "finished": time.time(), "outcomes": outcomes,
            "attempts": attempts}


def _client_entry(plan: ClientPlan, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    queue.put(asyncio.run(_send_all(plan)))


def client_plans(phase: str, sensors: int, urls: list[str], args: argparse.Namespace,
                 start_at: float) -> list[ClientPlan]:
    """`sensors` split over the clients; each sensor gets READINGS_PER_SENSOR readings."""
    clients = min(args.clients, sensors)
    shares = [sensors // clients + (c < sensors % clients) for c in range(clients)]
    plans = []
    for c, share in enumerate(shares):
        readings = share * READINGS_PER_SENSOR
        if readings % args.batch:
            raise ValueError(f"{readings} readings of client {c} are not whole batches of {args.batch}")
        plans.append(ClientPlan(phase, c, urls, share, readings // args.batch, args.batch,
                                args.in_flight, start_at))
    return plans


def run_phase(phase: str, args: argparse.Namespace, base: Path) -> dict[str, Any]:
    sensors = LITHAIR[phase].sensors
    expected = sensors * READINGS_PER_SENSOR
    cluster = LocalCluster(base, nodes=3, extra_args=tuple(args.lithair_arg)).start()
    try:
        cluster.wait_ready(timeout_s=60)
        pids = {spec.node_id: cluster.processes[i].pid for i, spec in enumerate(cluster.specs)}
        plans = client_plans(phase, sensors, cluster.urls, args, time.time() + 1.0)
        ctx = mp.get_context("fork")
        queue = ctx.Queue()
        procs = [ctx.Process(target=_client_entry, args=(p, queue), daemon=True) for p in plans]
        meter = CpuMeter(pids)
        for proc in procs:
            proc.start()
        meter.start()
        results = [queue.get(timeout=args.phase_timeout) for _ in procs]
        cpu = meter.stop()
        for proc in procs:
            proc.join(timeout=10)
        stats = cluster.wait_converged(timeout_s=300)
        nodes = [{"node": node, "rss_mb": rss_mb(pid), "peak_rss_mb": peak_rss_mb(pid),
                  "cpu_pct": cpu[node]["cpu_pct"], "total_readings": s.get("total_readings"),
                  "state_digest": s.get("state_digest")}
                 for (node, pid), s in zip(pids.items(), stats, strict=True)]
    finally:
        cluster.stop()
    seconds = max(r["finished"] for r in results) - min(r["started"] for r in results)
    outcomes: dict[str, int] = {}
    for r in results:
        for status, count in r["outcomes"].items():
            outcomes[status] = outcomes.get(status, 0) + count
    batches = sum(p.batches for p in plans)
    integrity = {
        "batches_acked": outcomes.get(ACKED, 0), "batches": batches,
        "every_node_holds_all": all(n["total_readings"] == expected for n in nodes),
        "digests": sorted({n["state_digest"] for n in nodes}),
    }
    integrity["ok"] = (integrity["batches_acked"] == batches and integrity["every_node_holds_all"]
                       and len(integrity["digests"]) == 1)
    return {"phase": phase, "sensors": sensors, "readings": expected,
            "seconds": round(seconds, 2), "readings_per_s": round(expected / seconds),
            "attempts": sum(r["attempts"] for r in results), "outcomes": outcomes,
            "nodes": nodes, "integrity": integrity}


def compare(run: dict[str, Any]) -> dict[str, Any]:
    """Ratios against Lithair's phase: rate (ours / theirs) and memory (our largest node's
    RSS after the phase and its peak during it / theirs; each node holds every reading)."""
    ref = LITHAIR[run["phase"]]
    rss = max(n["rss_mb"] for n in run["nodes"])
    peak = max(n["peak_rss_mb"] for n in run["nodes"])
    rate_x = run["readings_per_s"] / ref.readings_per_s
    out: dict[str, Any] = {"rate_x": round(rate_x, 2), "rss_mb": rss, "peak_rss_mb": peak,
                           "rate_target_met": rate_x >= TARGET_RATE_X}
    if ref.rss_mb is not None:
        out["memory_fraction"] = round(rss / ref.rss_mb, 2)
        out["peak_memory_fraction"] = round(peak / ref.rss_mb, 2)
        out["memory_target_met"] = rss <= TARGET_MEMORY_FRACTION * ref.rss_mb
    return out


def _cell(value: Any, fmt: str = "") -> str:
    return "-" if value is None else format(value, fmt)


def print_table(runs: list[dict[str, Any]]) -> None:
    print(f"\n{'phase':<6}{'who':<9}{'readings':>12}{'s':>9}{'readings/s':>12}{'x rate':>8}"
          f"{'RSS MB':>9}{'peak MB':>9}{'x mem':>7}  integrity")
    for run in runs:
        ref, c = LITHAIR[run["phase"]], run["compare"]
        print(f"{run['phase']:<6}{'lithair':<9}{run['readings']:>12,}{_cell(ref.seconds):>9}"
              f"{ref.readings_per_s:>12,.0f}{'':>8}{_cell(ref.rss_mb):>9}{'':>9}{'':>7}  (published)")
        i = run["integrity"]
        check = "OK" if i["ok"] else f"FAILED {i}"
        missed = [name for name, met in (("rate", c["rate_target_met"]),
                                         ("memory", c.get("memory_target_met", True)),
                                         ("collapse", not c["collapsed"])) if not met]
        check += f"; targets {'met' if not missed else 'missed: ' + ', '.join(missed)}"
        print(f"{'':<6}{'ours':<9}{run['readings']:>12,}{run['seconds']:>9}"
              f"{run['readings_per_s']:>12,}{c['rate_x']:>8}{c['rss_mb']:>9.0f}{c['peak_rss_mb']:>9.0f}"
              f"{_cell(c.get('memory_fraction')):>7}  {check}")
    print(f"targets: rate >= {TARGET_RATE_X}x Lithair's, RSS <= {TARGET_MEMORY_FRACTION} of its "
          f"memory (largest node), no phase under {COLLAPSE_FRACTION} of the fastest phase")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--phases", default=",".join(LITHAIR),
                   help=f"comma list of {', '.join(LITHAIR)} (default: all)")
    p.add_argument("--batch", type=int, default=1000, help="readings per batch")
    p.add_argument("--clients", type=int, default=4, help="client processes")
    p.add_argument("--in-flight", type=int, default=4, help="requests in flight per client")
    p.add_argument("--phase-timeout", type=float, default=3600, help="seconds a phase may take")
    p.add_argument("--lithair-arg", action="append", default=[], help="extra `lithair serve` flag")
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    args.phases = [name.strip().lower() for name in args.phases.split(",") if name.strip()]
    unknown = [name for name in args.phases if name not in LITHAIR]
    if unknown:
        p.error(f"unknown phases {unknown}: choose among {', '.join(LITHAIR)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict[str, Any] = {
        "benchmark": "phases", "date": utc_now(), "machine": machine_info(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "lithair_published": {k: vars(v) for k, v in LITHAIR.items()}, "runs": []}
    for phase in args.phases:
        print(f"[{time.strftime('%H:%M:%S')}] phase {phase}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-phases-") as tmp:
            run = run_phase(phase, args, Path(tmp))
        run["compare"] = compare(run)
        report["runs"].append(run)
        print(f"  -> {run['readings_per_s']:,} readings/s in {run['seconds']} s, "
              f"integrity {'OK' if run['integrity']['ok'] else 'FAILED'}", file=sys.stderr, flush=True)
    fastest = max(r["readings_per_s"] for r in report["runs"])
    for run in report["runs"]:
        run["compare"]["collapsed"] = run["readings_per_s"] < COLLAPSE_FRACTION * fastest
    print_table(report["runs"])
    print(f"results: {shown(write_results(args.out, 'phases', report))}")
    return 0 if all(r["integrity"]["ok"] for r in report["runs"]) else 1
