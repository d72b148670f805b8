"""Backpressure benchmark: what a 3-node cluster does when offered twice what it can take.

    .venv/bin/python scripts/bench_backpressure.py               # ~2.5 minutes
    .venv/bin/python scripts/bench_backpressure.py --overload 60 --factor 2

One invocation, one fresh cluster, three phases with the same client processes and readings:
  1. saturate  closed loop (each client keeps `in-flight` requests outstanding): the
               sustainable rate R of this machine right now (the baseline);
  2. 1x        open loop at R: requests are sent on schedule whether or not earlier ones
               were answered (latency counted from the scheduled time);
  3. 2x        open loop at factor x R for `--overload` seconds, once per client Expect
               mode (`--expect never,after_refusal`: refused clients hold their body back
               for a 100 Continue until admitted, as ClusterClient(expect_after_refusal=True)
               does, or never, its default).
For each phase: accepted readings/s, rejected requests/s by status, p50/p99 latency of the
accepted writes, peak RSS of every node, and anything that is neither a 200 nor a
429/503 with Retry-After (must be none: no 500, no timeout, no dropped connection).
Results: a table on stdout and JSON in bench/results/backpressure-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from lithair_node.client.blocking_api import http_json
from lithair_node.lab.bench.load_clients import ClientPlan, run_clients, summarise
from lithair_node.lab.bench.procfs import machine_info, rss_mb
from lithair_node.lab.bench.results import RESULTS_DIR, shown, utc_now, write_results
from lithair_node.lab.local_cluster import LocalCluster

REJECTIONS = ("429", "503")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Sampler(threading.Thread):
    """Peak resident memory and peak readings waiting to commit of each node, every 0.25 s.
    RSS also grows with the readings stored; `pending` is the queue backpressure bounds."""

    def __init__(self, pids: dict[str, int], urls: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.pids, self.urls = pids, urls
        self.peak = dict.fromkeys(pids, 0.0)
        self.peak_pending = dict.fromkeys(pids, 0)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.25):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], rss_mb(pid))
                code, stats = http_json(f"{self.urls[name]}/api/v1/stats", timeout_s=1.0)
                if code == 200:
                    self.peak_pending[name] = max(self.peak_pending[name],
                                                  stats["pending_readings"])


def phase(args: argparse.Namespace, name: str, cluster: LocalCluster, duration: float,
          rate_rps: float | None, first_batch: int, expect: str = "never") -> dict[str, Any]:
    start_at = time.time() + 1.0
    lo, hi = start_at + args.warmup, start_at + args.warmup + duration
    per_client = None if rate_rps is None else rate_rps / args.clients
    plans = [
        # Distinct sensor prefixes per phase: every phase writes new readings.
        ClientPlan("lithair", first_batch + c, [cluster.urls[c % len(cluster.urls)]],
                   args.batch, args.sensors, args.in_flight, start_at, hi + 0.5, rate=per_client,
                   phase_s=0.0 if rate_rps is None else c / rate_rps, expect=expect)
        for c in range(args.clients)
    ]
    pids = {spec.node_id: cluster.processes[i].pid for i, spec in enumerate(cluster.specs)}
    sampler = Sampler(pids, {spec.node_id: spec.url for spec in cluster.specs})
    sampler.start()
    log(f"{name}: {'closed loop' if rate_rps is None else f'{rate_rps:,.0f} requests/s offered'}"
        f" for {duration:g} s")
    results = run_clients(plans)
    sampler.stop.set()
    sampler.join()
    summary = summarise(results, args.batch, (lo, hi))
    rejected = {k: v for k, v in summary["errors"].items() if k in REJECTIONS}
    other = {k: v for k, v in summary["errors"].items() if k not in REJECTIONS}
    summary.update(
        phase=name,
        expect=expect,
        offered_requests_per_s=None if rate_rps is None else round(rate_rps, 1),
        rejected_requests_per_s={k: round(v / (hi - lo + args.warmup), 1) for k, v in rejected.items()},
        other_errors=other,
        peak_rss_mb=sampler.peak,
        peak_pending_readings=sampler.peak_pending,
        total_readings_after=(cluster.stats(0) or {}).get("total_readings"),
    )
    return summary


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-backpressure-") as tmp:
        extra = ("--max-pending-readings", str(args.max_pending),
                 "--max-queue-delay", str(args.max_queue_delay))
        cluster = LocalCluster(Path(tmp), nodes=3, extra_args=extra).start()
        try:
            cluster.wait_ready(timeout_s=60)
            saturate = phase(args, "saturate", cluster, args.saturate, None, 0)
            capacity = saturate["requests_per_s"]
            log(f"sustainable: {saturate['readings_per_s']:,} readings/s "
                f"({capacity:,.1f} requests/s)")
            nominal = phase(args, "1x", cluster, args.saturate, capacity, 100)
            # One overload phase per client Expect mode, on the same cluster.
            overloads = [phase(args, f"{args.factor:g}x", cluster, args.overload,
                               args.factor * capacity, 200 + 100 * n, expect)
                         for n, expect in enumerate(args.expect.split(","))]
            stats = cluster.wait_converged(timeout_s=180)
            converged = {"total_readings": stats[0]["total_readings"],
                         "digests_equal": len({s["state_digest"] for s in stats}) == 1,
                         "nodes_running": all(cluster.is_running(i) for i in range(3))}
        finally:
            cluster.stop()
    return {"phases": [saturate, nominal, *overloads], "converged": converged}


def print_table(report: dict[str, Any]) -> None:
    header = (f"{'phase':9}{'expect':>14}{'offered rq/s':>13}{'accepted r/s':>14}{'rejected rq/s':>15}"
              f"{'p50 ms':>9}{'p99 ms':>9}{'peak pending (per node)':>26}"
              f"{'peak RSS MB':>18}{'stored after':>14}  other errors")
    print(header)
    for p in report["phases"]:
        rejected = sum(p["rejected_requests_per_s"].values())
        rss = "/".join(f"{v:.0f}" for v in p["peak_rss_mb"].values())
        offered = "-" if p["offered_requests_per_s"] is None else f"{p['offered_requests_per_s']:,.1f}"
        pending = "/".join(f"{v:,}" for v in p["peak_pending_readings"].values())
        stored = p["total_readings_after"] or 0
        print(f"{p['phase']:9}{p.get('expect', '-'):>14}{offered:>13}"
              f"{p['readings_per_s']:>14,}{rejected:>15,.1f}"
              f"{p['latency_ms']['p50'] or 0:>9}{p['latency_ms']['p99'] or 0:>9}{pending:>26}"
              f"{rss:>18}{stored:>14,}  {p['other_errors'] or 'none'}")
    print(f"after the run: {report['converged']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1000, help="readings per request")
    parser.add_argument("--sensors", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--in-flight", type=int, default=4, help="per client, closed loop")
    parser.add_argument("--saturate", type=float, default=20.0, help="seconds, phases 1 and 2")
    parser.add_argument("--overload", type=float, default=60.0, help="seconds, phase 3")
    parser.add_argument("--factor", type=float, default=2.0, help="overload factor")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--max-pending", type=int, default=200_000,
                        help="the nodes' --max-pending-readings")
    parser.add_argument("--max-queue-delay", type=float, default=0.5,
                        help="the nodes' --max-queue-delay (seconds)")
    parser.add_argument("--expect", default="never",
                        help="client Expect modes (never, after_refusal, always), comma-separated:"
                             " one overload phase each")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    payload: dict[str, Any] = {"benchmark": "backpressure", "date": utc_now(),
                               "machine": machine_info(), "settings": vars(args) | {"out": None},
                               "command": " ".join(["bench_backpressure.py", *sys.argv[1:]])}
    payload.update(run(args))
    print_table(payload)
    path = write_results(args.out, "backpressure", payload)
    print(f"wrote {shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
