"""What `--durability fsync` costs against `none`, measured in the same invocation on fresh
3-node clusters (the ingest benchmark's clients and cluster, bench_lithair):
1. throughput at batch 1,000 with `--concurrency` (16) in flight, each mode, `--rounds`
   times in a rotating order (the box is shared: rotation spreads the noise over all);
2. ack latency at 50% load: every mode offered the same rate, half of none's median,
   `--rounds` times too.
Verdicts compare medians over the rounds. Targets (issue 12): fsync >= 80% of none's
throughput; p99 at 50% <= 1.5x none's. `--baseline-src DIR` adds a mode `fsync-base`: fsync
with the nodes run from another checkout (before/after in the same invocation).

    .venv/bin/python scripts/bench_durability.py              # 20 s windows
    .venv/bin/python scripts/bench_durability.py --quick      # 8 s windows

Prints a table; writes bench/results/durability-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lithair_node.lab.bench.ingest_systems import bench_lithair
from lithair_node.lab.bench.procfs import machine_info
from lithair_node.lab.bench.results import RESULTS_DIR, shown, utc_now, write_results

MODES = ("none", "fsync")
BASELINE = "fsync-base"
BATCH = 1000
THROUGHPUT_TARGET = 0.80
P99_TARGET = 1.5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=2, help="throughput runs per mode")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=4.0)
    p.add_argument("--clients", type=int, default=4, help="client processes")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight, all clients")
    p.add_argument("--sensors", type=int, default=100, help="sensors per client process")
    p.add_argument("--target", choices=["all", "leader"], default="all")
    p.add_argument("--quick", action="store_true", help="8 s windows, 2 s warm-up, 1 round")
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    p.add_argument("--tmp", default=None, help="directory for cluster data")
    p.add_argument("--baseline-src", type=Path, default=None,
                   help="also run fsync from this source tree (mode fsync-base)")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds = 8.0, 2.0, 1
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _run(args: argparse.Namespace, mode: str, rate_rps: float | None = None) -> dict[str, Any]:
    durability, code = ("fsync", args.baseline_src) if mode == BASELINE else (mode, None)
    mode_args = argparse.Namespace(**vars(args), lithair_arg=["--durability", durability],
                                   lithair_env=[])
    result = bench_lithair(mode_args, BATCH, rate_rps=rate_rps, code=code)
    journal = result.pop("journal", None) or {}
    result["fsync_latency_s"] = journal.get("fsync_latency_s")
    result["durability_reported"] = journal.get("durability")
    return result


def fsync_quantile_ms(histogram: dict[str, Any] | None, q: float) -> float | None:
    """The upper bound of the histogram bucket holding quantile q (its resolution)."""
    if not histogram or not histogram.get("count"):
        return None
    for bound, cumulative in histogram["buckets"].items():
        if cumulative >= q * histogram["count"]:
            return None if bound == "+Inf" else float(bound) * 1000
    return None


def _p99(run: dict[str, Any]) -> float | None:
    return (run.get("latency_ms") or {}).get("p99")


def _modes(runs: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["mode"] for r in runs))


def verdict(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds (each round's runs are next to each other in time)."""
    modes = _modes(runs)
    best = {mode: statistics.median(r["readings_per_s"] for r in runs
                                    if r["mode"] == mode and "rate" not in r) for mode in modes}
    p99 = {mode: statistics.median(_p99(r) or 0.0 for r in runs
                                   if r["mode"] == mode and "rate" in r) for mode in modes}
    throughput_ratio = best["fsync"] / best["none"]
    p99_ratio = p99["fsync"] / p99["none"] if p99["none"] else None
    base = {} if BASELINE not in best else {
        "fsync_base_vs_none_throughput": round(best[BASELINE] / best["none"], 3),
        "fsync_base_vs_none_p99": round(p99[BASELINE] / p99["none"], 2) if p99["none"] else None}
    return {
        "statistic": "median over rounds",
        "throughput_readings_per_s": best, "fsync_vs_none_throughput": round(throughput_ratio, 3),
        "p99_ms_at_50pct": p99, "fsync_vs_none_p99": None if p99_ratio is None else round(p99_ratio, 2),
        **base,
        "throughput_target_met": throughput_ratio >= THROUGHPUT_TARGET,
        "p99_target_met": p99_ratio is not None and p99_ratio <= P99_TARGET,
    }


def print_table(runs: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    header = (f"{'mode':<11}{'load':>10}{'readings/s':>12}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'fsyncs':>8}{'fsync mean ms':>15}{'fsync p99 <= ms':>17}{'digests':>9}")
    print(header)
    print("-" * len(header))
    for run in runs:
        lat = run.get("latency_ms") or {}
        hist = run.get("fsync_latency_s") or {}
        load = "max" if "rate" not in run else f"{run['rate']:,.0f}/s"
        count = hist.get("count") or 0
        mean = f"{hist['sum'] / count * 1000:.2f}" if count else "-"
        p99 = fsync_quantile_ms(hist, 0.99)
        print(f"{run['mode']:<11}{load:>10}{run['readings_per_s']:>12,}{lat.get('p50', '-'):>9}"
              f"{lat.get('p99', '-'):>9}{count:>8}{mean:>15}{'-' if p99 is None else p99:>17}"
              f"{'equal' if run['converged']['digests_equal'] else 'DIFFER':>9}")
    print(f"\nmedians over rounds: {summary['throughput_readings_per_s']}, p99 ms at 50%: "
          f"{summary['p99_ms_at_50pct']}")
    if "fsync_base_vs_none_throughput" in summary:
        print(f"baseline fsync / none: {summary['fsync_base_vs_none_throughput']:.0%}, p99 "
              f"{summary['fsync_base_vs_none_p99']}x")
    print(f"fsync / none throughput: {summary['fsync_vs_none_throughput']:.0%} "
          f"(target >= {THROUGHPUT_TARGET:.0%}: {'met' if summary['throughput_target_met'] else 'MISSED'})")
    print(f"fsync / none p99 at 50% load: {summary['fsync_vs_none_p99']}x "
          f"(target <= {P99_TARGET}x: {'met' if summary['p99_target_met'] else 'MISSED'})")


def _rotated(modes: list[str], round_number: int) -> list[str]:
    # Each mode goes first in turn: no mode always follows the same neighbour.
    shift = round_number % len(modes)
    return modes[shift:] + modes[:shift]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict[str, Any] = {
        "benchmark": "durability", "date": utc_now(), "machine": machine_info(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                     if k != "out"}, "runs": [],
    }
    runs: list[dict[str, Any]] = report["runs"]
    modes = [*MODES, BASELINE] if args.baseline_src else list(MODES)
    for round_number in range(args.rounds):
        for mode in _rotated(modes, round_number):
            log(f"{mode}: max throughput at batch {BATCH}, round {round_number + 1}")
            runs.append({"mode": mode, "round": round_number + 1, **_run(args, mode)})
    half = statistics.median(r["readings_per_s"] for r in runs if r["mode"] == "none") / 2
    for round_number in range(args.rounds):
        for mode in _rotated(modes, round_number):
            log(f"{mode}: ack latency at {half:,.0f} readings/s (50% of none's median), "
                f"round {round_number + 1}")
            runs.append({"mode": mode, "round": round_number + 1, "rate": half,
                         **_run(args, mode, rate_rps=half / BATCH)})
    report["summary"] = verdict(runs)
    print(f"\nbench_durability  {report['date']}  {report['machine']['cpu']} "
          f"x{report['machine']['cores']}  load at start {report['machine']['load_avg_at_start']}")
    print_table(runs, report["summary"])
    path = write_results(args.out, "durability", report)
    print(f"\nresults: {shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
