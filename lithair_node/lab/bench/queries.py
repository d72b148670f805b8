"""Query latency over 10M stored readings, side by side with a naive full-scan baseline.

In-process part: the state is built by StateMachine.apply of real encoded log entries
(1% of readings arrive late, 0.1% are re-sent duplicates), in two layouts of 10M readings
each: many short series (1,000 sensors x 10,000) and a few long ones (10 sensors x
1,000,000), the second showing that a range costs O(log n + k) in the series size. The
baseline holds the same readings as one flat table in arrival order and answers every query
with vectorised numpy scans (what a store without a per-sensor time index has to do).

HTTP part: one `lithair serve` node is filled through POST /api/v1/batches and every query
is timed over loopback, next to GET /health (the HTTP floor) in the same run.

    .venv/bin/python scripts/bench_queries.py                 # full run (10M + HTTP 10M)
    .venv/bin/python scripts/bench_queries.py --quick         # 1M readings, for a smoke test
    .venv/bin/python scripts/bench_queries.py --no-http --no-apply \
        --layouts 1000x10000,100000x100 --baseline-src head=/tmp/base-head
        # beside another checkout's code, same readings and queries (queries_baseline.py)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from lithair_node.lab.bench.queries_baseline import parse, run_layout_in
from lithair_node.lab.bench.queries_cases import anomaly_overhead, run_layout
from lithair_node.lab.bench.queries_http import consistency_part, http_part
from lithair_node.lab.bench.results import RESULTS_DIR, shown

_ROOT = Path(__file__).resolve().parents[3]  # this checkout: lithair_node/lab/bench/ -> root


def print_table(title: str, rows: dict[str, Any], columns: list[str]) -> None:
    print(f"\n{title}")
    print(f"{'query':24}" + "".join(f"{c + ' p50/p95 ms':>28}" for c in columns) + f"{'speed-up':>10}")
    for name, row in rows.items():
        cells = "".join(f"{row[c]['p50_ms']:>14.4f} / {row[c]['p95_ms']:<11.4f}" for c in columns)
        ratio = (row[columns[-1]]["p50_ms"] / row[columns[0]]["p50_ms"]) if len(columns) > 1 else None
        print(f"{name:24}{cells}" + (f"{ratio:>9.2f}x" if ratio else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1M readings, fewer repeats")
    parser.add_argument("--http-readings", type=int, default=None,
                        help="readings loaded into the HTTP node (default: as in-process)")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--layouts", default=None,
                        help="SENSORSxPER_SENSOR,... (default: 1000 and 10 sensors, 10M or 1M)")
    parser.add_argument("--baseline-src", action="append", default=[], metavar="[NAME=]DIR",
                        help="also time the queries on this checkout's code (repeatable); "
                             "the baseline scans are then left out")
    parser.add_argument("--no-apply", action="store_true", help="skip the apply throughput part")
    args = parser.parse_args()
    total = 1_000_000 if args.quick else 10_000_000
    repeats = 40 if args.quick else args.repeats
    layouts = ([tuple(map(int, item.split("x"))) for item in args.layouts.split(",")]
               if args.layouts else [(1_000, total // 1_000), (10, total // 10)])
    baselines = [parse(given) for given in args.baseline_src]
    report: dict[str, Any] = {
        "script": "scripts/bench_queries.py", "argv": sys.argv[1:],
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(),
                    "platform": platform.platform()},
        "layouts": [],
    }
    report["baselines"] = dict(baselines)
    for sensors, per_sensor in layouts:
        before = {name: run_layout_in(src, sensors, per_sensor, repeats) for name, src in baselines}
        # Beside a baseline this tree runs in a child process too: timed in this process it
        # read the same code at 0.54-1.50x of itself at 100K sensors (against `git archive
        # HEAD`, 2026-12-02).
        layout = (run_layout_in(str(_ROOT), sensors, per_sensor, repeats) if baselines
                  else run_layout(sensors, per_sensor, repeats, scan=True))
        for name, theirs in before.items():
            layout[f"build_s_{name}"] = theirs["build_s"]
            for query, row in layout["queries"].items():
                row[name] = theirs["queries"][query]["lithair"]
        report["layouts"].append(layout)
        print_table(f"in-process, {sensors:,} sensors x {per_sensor:,} readings "
                    f"({sensors * per_sensor:,} stored)", layout["queries"],
                    ["lithair", *before] if baselines else ["lithair", "baseline_scan"])
    if not args.no_apply:
        report["apply_readings_per_s"] = anomaly_overhead(200_000 if args.quick else 1_000_000)
        print(f"\napply throughput, same entries: {report['apply_readings_per_s']}")
    if not args.no_http:
        http_readings = args.http_readings or total
        report["http"] = asyncio.run(http_part(http_readings, repeats))
        print(f"\nHTTP round trip, one node holding {http_readings:,} readings "
              f"({report['http']['memory_usage_mb']} MB resident)")
        print(f"{'query':24}{'p50 ms':>10}{'p95 ms':>10}{'bytes':>10}")
        for name, row in report["http"]["queries"].items():
            print(f"{name:24}{row['p50_ms']:>10.3f}{row['p95_ms']:>10.3f}{row['bytes']:>10}")
        report["consistency_3_nodes"] = asyncio.run(consistency_part(min(repeats, 100)))
        print("\nconsistency levels, latest asked of a follower of a 3-node cluster")
        for name, row in report["consistency_3_nodes"].items():
            print(f"{name:24}{row['p50_ms']:>10.3f}{row['p95_ms']:>10.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"queries-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {shown(path)}")


if __name__ == "__main__":
    main()
