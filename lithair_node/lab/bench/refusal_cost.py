"""What a refused write costs the node that refuses it, beside what an accepted one costs.

    .venv/bin/python scripts/bench_refusal.py --baseline-src DIR    # ~3 minutes

A lone node of three never has a leader, so it refuses every write with 503 at admission,
before the body is read: the very path of a 429 for queue delay (`Proposer.check_admission`
before the body). Its CPU per refused request is compared with the CPU per accepted request
of a node of a 3-node cluster at the same S (the three nodes' CPU over the acknowledged
requests, divided by three: each node receives a third of them and applies all).

Refusals are measured with the load clients' `expect` modes: "never" (the body goes with
the headers; the node drains it unread: ClusterClient's default) and "after_refusal"
(ClusterClient(expect_after_refusal=True): after a 429/503 the next requests hold their
body back for a 100 Continue, so a node that answers first never receives the body; each
such refusal closes its connection).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lithair_node import api
from lithair_node.lab.bench.ingest_systems import bench_lithair
from lithair_node.lab.bench.load_clients import ClientPlan, run_metered
from lithair_node.lab.bench.procfs import cpu_seconds, machine_info
from lithair_node.lab.bench.results import RESULTS_DIR, code_env, shown, utc_now, write_results
from lithair_node.lab.local_cluster import LocalCluster, http_json
from lithair_node.polling import wait_until

_IDLE_S = 3.0
EXPECT_MODES = ("never", "after_refusal")


def refused_cpu_ms(args: argparse.Namespace, batch: int, code: Path | None = None,
                   expect: str = "never", pause_s: float = 0.05) -> dict[str, Any]:
    """CPU ms per refused request of a leaderless node, under `args.concurrency` in flight,
    each client worker pausing `pause_s` after a refusal (0: refused as fast as the node
    answers, i.e. saturated, as the accepted cost is measured).
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
            summary = _measure(args, cluster.urls[0], pid, batch, expect, pause_s)
        finally:
            cluster.stop()
    refused = sum(v for k, v in summary["errors"].items() if k.startswith(("429", "503")))
    # Errors are counted over warm-up + window (+0.5 s drain); CPU over the window only.
    per_s = refused / (args.warmup + args.duration + 0.5)
    cpu = max(0.0, summary["processes"]["lone"]["cpu_pct"] / 100 - idle)
    return {"expect": expect, "pause_s": pause_s, "refused_per_s": round(per_s, 1),
            "errors": summary["errors"], "idle_cpu_pct": round(100 * idle, 1),
            "cpu_ms_per_refused": round(1000 * cpu / per_s, 3) if per_s else None}


def _measure(args: argparse.Namespace, url: str, pid: int, batch: int, expect: str,
             pause_s: float) -> dict[str, Any]:
    start_at = time.time() + 1.0
    lo = start_at + args.warmup
    hi = lo + args.duration
    per_client = max(1, args.concurrency // args.clients)
    plans = [ClientPlan("lithair", c, [url], batch, args.sensors, per_client, start_at, hi + 0.5,
                        expect=expect, error_pause_s=pause_s) for c in range(args.clients)]
    return run_metered(plans, {"lone": pid}, batch, (lo, hi))


def accepted_cpu_ms(row: dict[str, Any]) -> float | None:
    """CPU ms per accepted request of one node of a sweep row's three."""
    processes = row.get("processes") or {}
    if not processes or not row.get("requests_per_s"):
        return None
    cpu = sum(p["cpu_pct"] for p in processes.values()) / 100
    return round(1000 * cpu / row["requests_per_s"] / len(processes), 3)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sensors", type=int, default=10_000, help="S, over all clients")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--refused-batch", type=int, default=None,
                   help="readings per refused request (default --batch; 1: what the body costs)")
    p.add_argument("--clients", type=int, default=4, help="client processes")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    p.add_argument("--duration", type=float, default=8.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--expect", default=",".join(EXPECT_MODES), help="client modes of the refusals")
    p.add_argument("--pauses", default="0.05,0",
                   help="seconds a client worker pauses after a refusal (0.05: as bench_cardinality; "
                        "0: saturated, as accepted requests are measured)")
    p.add_argument("--baseline-src", type=Path, default=None,
                   help="a source tree (`git archive` extracted) measured beside this checkout")
    p.add_argument("--lithair-arg", action="append", default=[])
    p.add_argument("--lithair-env", action="append", default=[])
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    p.add_argument("--tmp", default=None)
    args = p.parse_args(argv)
    args.sensors = max(1, -(-args.sensors // args.clients))  # per client
    args.target = "all"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    systems = {"lithair": None, **({"baseline": args.baseline_src} if args.baseline_src else {})}
    report: dict[str, Any] = {"benchmark": "refusal", "date": utc_now(), "machine": machine_info(),
                              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                              "settings": {k: str(v) for k, v in vars(args).items()}, "rows": []}
    accepted: dict[str, float | None] = {}
    for system, code in systems.items():  # accepted first: each refusal beside its own
        row = bench_lithair(args, args.batch, code=code)
        accepted[system] = accepted_cpu_ms(row)
        print(f"[{time.strftime('%H:%M:%S')}] {system}: accepted {accepted[system]} ms "
              f"({row['readings_per_s']:,} readings/s)", file=sys.stderr, flush=True)
        report["rows"].append({"system": system, "kind": "accepted", "cpu_ms": accepted[system],
                               "readings_per_s": row["readings_per_s"], "errors": row["errors"]})
    runs = [(float(pause), expect) for pause in args.pauses.split(",") for expect in args.expect.split(",")]
    for pause, expect in runs:
        for system, code in systems.items():  # interleaved: a noisy spell hits both alike
            refusal = refused_cpu_ms(args, args.refused_batch or args.batch, code=code,
                                     expect=expect, pause_s=pause)
            ratio = (round(refusal["cpu_ms_per_refused"] / accepted[system], 4)
                     if refusal["cpu_ms_per_refused"] and accepted[system] else None)
            report["rows"].append({"system": system, "kind": "refused", **refusal,
                                   "cpu_ms_per_accepted": accepted[system],
                                   "refused_over_accepted": ratio})
            print(f"[{time.strftime('%H:%M:%S')}] {system} expect={expect} pause={pause}: "
                  f"{refusal} -> {ratio}",
                  file=sys.stderr, flush=True)
    print(f"\n{'system':<10}{'kind':<10}{'expect':<15}{'pause s':>8}{'refused/s':>10}"
          f"{'cpu ms':>9}{'x accepted':>12}")
    for row in report["rows"]:
        print(f"{row['system']:<10}{row['kind']:<10}{row.get('expect', '-'):<15}"
              f"{row.get('pause_s', '-'):>8}{row.get('refused_per_s', '-'):>10}"
              f"{row.get('cpu_ms', row.get('cpu_ms_per_refused')) or '-':>9}"
              f"{row.get('refused_over_accepted') or '-':>12}")
    print(f"\nresults: {shown(write_results(args.out, 'refusal', report))}")
    return 0
