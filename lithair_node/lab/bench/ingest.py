"""Ingest benchmark: one invocation, side by side, the same generated readings.

    .venv/bin/python scripts/bench_ingest.py            # full run (~8 minutes)
    .venv/bin/python scripts/bench_ingest.py --quick    # 8 s windows, for iterating

Columns (each skipped with a message when asked to or when it cannot run):
  ceiling  StateMachine.apply alone in this process: no HTTP, no Raft (entries pre-validated)
  lithair  a fresh 3-node cluster of `lithair serve` processes on loopback (journals on),
           written through HTTP by several client processes with keep-alive connections
  etcd     a fresh 3-node etcd 3.4 cluster on loopback, written through its HTTP/JSON gateway
           (`/v3/kv/put`) with the same JSON batches as values, at the same concurrency
  lithair-col  the same cluster and readings, sent as column-oriented bodies
           ({"columns": {field: [...]}}, README "Writing")
  naive    PySyncObj with its default settings, one pickled reading per replicated call,
           submitted in-process on the leader (no HTTP: an upper bound of that design)

`--latency` adds, at batch 1,000, the ack latency of Lithair at 10%, 50% and 90% of the
maximum rate measured in the same invocation (open loop: requests are sent on schedule).

Results: a table on stdout and JSON in bench/results/ingest-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from lithair_node.lab.bench.ingest_naive import bench_naive, naive_node
from lithair_node.lab.bench.ingest_systems import (
    ETCD_HOWTO,
    bench_ceiling,
    bench_etcd,
    bench_lithair,
    etcd_binary,
)
from lithair_node.lab.bench.ingest_table import print_table
from lithair_node.lab.bench.procfs import machine_info
from lithair_node.lab.bench.results import (
    REPO,
    RESULTS_DIR,
    checkout_ref,
    shown,
    utc_now,
    write_results,
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--systems", default="ceiling,lithair,lithair-col,etcd,naive",
                   help="comma-separated subset of ceiling,lithair,lithair-col,etcd,naive")
    p.add_argument("--batch-sizes", default="100,1000,5000")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    p.add_argument("--clients", type=int, default=4, help="client processes")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight, all clients")
    p.add_argument("--sensors", type=int, default=100, help="sensors per client process")
    p.add_argument("--target", choices=["all", "leader"], default="all",
                   help="clients spread over every node, or all write to the leader")
    p.add_argument("--ceiling-readings", type=int, default=1_000_000)
    p.add_argument("--latency", action="store_true",
                   help="also measure ack latency at 10/50/90%% of the max rate (batch 1,000)")
    p.add_argument("--lithair-arg", action="append", default=[],
                   help="extra argument for `lithair serve` (repeatable)")
    p.add_argument("--lithair-env", action="append", default=[],
                   help="KEY=VALUE environment for `lithair serve` (repeatable)")
    p.add_argument("--baseline-ref", help="also run the Lithair column with the nodes running this "
                   "git ref of the repository (e.g. main), in the same invocation")
    p.add_argument("--quick", action="store_true", help="8 s windows, 2 s warm-up")
    p.add_argument("--label", default="", help="free text stored with the results")
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    p.add_argument("--tmp", default=None, help="directory for cluster data (default: system tmp)")
    p.add_argument("--naive-node", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 8.0, 2.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.naive_node:
        naive_node(json.loads(args.naive_node))
        return 0
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    report: dict[str, Any] = {
        "benchmark": "ingest", "date": utc_now(), "machine": machine_info(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "naive_node")},
        "label": args.label, "runs": [],
    }
    report["settings"]["tmp"] = str(args.tmp)
    runs = report["runs"]
    if "etcd" in systems and etcd_binary() is None:
        log(f"etcd column skipped: no `etcd` binary on PATH. Install it with: {ETCD_HOWTO}")
        runs.append({"system": "etcd", "skipped": f"etcd not installed ({ETCD_HOWTO})"})
        systems.remove("etcd")
    baseline_code: Path | None = None
    if args.baseline_ref:
        baseline_code, report["baseline_commit"] = checkout_ref(REPO, args.baseline_ref)

    def measured(system: str, title: str, batch: int, run: Callable[[], dict[str, Any]]) -> None:
        log(title)
        runs.append({"system": system, "batch": batch, **run()})
        if "latency_ms" in runs[-1]:
            log(f"  -> {runs[-1]['readings_per_s']:,} readings/s, p99 {runs[-1]['latency_ms']['p99']} ms")

    for batch in batches:
        if baseline_code is not None and "lithair" in systems:
            measured("baseline", f"lithair at {args.baseline_ref} (baseline), batch {batch}", batch,
                     partial(bench_lithair, args, batch, code=baseline_code))
        if "ceiling" in systems:
            measured("ceiling", f"ceiling, batch {batch}", batch, partial(bench_ceiling, args, batch))
        if "lithair" in systems:
            measured("lithair", f"lithair, batch {batch}", batch, partial(bench_lithair, args, batch))
        if "lithair-col" in systems:
            measured("lithair-col", f"lithair, column-oriented bodies, batch {batch}", batch,
                     partial(bench_lithair, args, batch, columnar=True))
        if "etcd" in systems:
            measured("etcd", f"etcd, batch {batch}", batch, partial(bench_etcd, args, batch))
    if "naive" in systems:
        measured("naive", "naive PySyncObj", 1, partial(bench_naive, args))
    if args.latency:
        top = next((r["readings_per_s"] for r in runs if r["system"] == "lithair"
                    and r.get("batch") == 1000), None)
        if top is None:
            measured("lithair", "latency sweep: measuring the max rate at batch 1000 first", 1000,
                     partial(bench_lithair, args, 1000))
            top = runs[-1]["readings_per_s"]
        for pct in (10, 50, 90):
            rate_rps = top * pct / 100 / 1000
            # The baseline's nodes at the same offered rates, when there is one.
            codes = [("baseline", baseline_code)] if baseline_code is not None else []
            for system, code in [*codes, ("lithair", None)]:
                log(f"{system}: latency at {pct}% of {top:,} readings/s")
                runs.append({"system": system, "batch": 1000, "rate_pct": pct,
                             "offered_readings_per_s": round(rate_rps * 1000),
                             **bench_lithair(args, 1000, rate_rps=rate_rps, code=code)})
    print()
    print(f"bench_ingest  {report['date']}  {report['machine']['cpu']} x{report['machine']['cores']}"
          f"  load at start {report['machine']['load_avg_at_start']}")
    print_table(report)
    if baseline_code is not None:
        shutil.rmtree(baseline_code, ignore_errors=True)
        print(f"baseline = the nodes running {args.baseline_ref} ({report['baseline_commit']})")
    path = write_results(args.out, "ingest", report)
    print(f"\nresults: {shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
