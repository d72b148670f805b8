"""Apply of late readings (older than their sensor's last, not duplicates), in process.

    .venv/bin/python scripts/bench_late.py --baseline-src DIR

A gateway that buffered through an outage, or two injectors whose clocks overlap, send
readings behind what their sensors already hold: each is looked up among the stored ones
(engine/dedup.py) before it is stored. First `--readings` in-order readings from
`--sensors` sensors (`client.sources.synthetic_batches`, one reading a sensor per second,
batch 1,000), then `--late` readings of the same sensors that fall between stored ones;
readings per CPU second of each part, best of `--passes` fresh state machines. With
--baseline-src the same runs of that tree follow in a child process.

`--http`: the same two parts through HTTP into a fresh 3-node cluster of each tree, by
`lithair inject` at `--concurrency` in flight; readings per second of each part. The late
part is a second inject started just after the first: its synthetic clock starts at the
wall time, long before the first's ends (the first's spans readings / sensors seconds), so
its readings fall between stored ones of the same sensors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from lithair_node.lab.bench.procfs import machine_info
from lithair_node.lab.bench.results import RESULTS_DIR, shown, utc_now, write_results

START_US = 1_700_000_000_000_000
# The late stream starts 17 s and 123 µs after the first: between stored readings, never on one.
LATE_OFFSET_US = 17_000_123


def _entries(sensors: int, readings: int, seed: int, start_us: int) -> list[bytes]:
    from lithair_node.client.sources import synthetic_batches
    from lithair_node.machine.commands import encode_ingest, make_encoded_batch
    from lithair_node.node.ingest.validation import Limits, validate_batch

    limits, out = Limits(max_readings=100_000), []
    for _, batch in zip(range(readings // 1000), synthetic_batches(sensors, 1000, seed=seed,
                                                                   start_us=start_us), strict=False):
        columns, received = validate_batch({"readings": batch}, limits)
        out.append(encode_ingest([make_encoded_batch(columns, None, received)]))
    return out


def measure(sensors: int, readings: int, late: int, passes: int) -> dict[str, Any]:
    from lithair_node.machine.state import LogEntry, StateMachine

    first = _entries(sensors, readings, 1, START_US)
    behind = _entries(sensors, late, 2, START_US + LATE_OFFSET_US)
    best: dict[str, float] = {}
    total = 0
    for _ in range(passes):
        state = StateMachine()
        for name, entries, base in (("in_order", first, 2), ("late", behind, 2 + len(first))):
            started = time.process_time()
            for i, entry in enumerate(entries):
                state.apply(LogEntry(base + i, 1, entry))
            rate = len(entries) * 1000 / (time.process_time() - started)
            best[name] = round(max(best.get(name, 0.0), rate))
        total = int(state.stats()["total_readings"])
    return {"readings_per_cpu_s": best, "total_readings": total}


def _inject(url: str, sensors: int, count: int, seed: int, concurrency: int) -> dict[str, Any]:
    import subprocess

    done = subprocess.run([sys.executable, "-m", "lithair_node", "inject", "--node", url,
                           "--sensors", str(sensors), "--count", str(count), "--seed", str(seed),
                           "--concurrency", str(concurrency), "--json"],
                          capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(done.stdout)


def measure_http(sensors: int, readings: int, late: int, concurrency: int) -> dict[str, Any]:
    import tempfile

    from lithair_node.lab.local_cluster import LocalCluster

    with tempfile.TemporaryDirectory(prefix="bench-late-") as base:
        cluster = LocalCluster(Path(base)).start()
        try:
            cluster.wait_ready(60)
            reports = {part: _inject(cluster.urls[0], sensors, count, seed, concurrency)
                       for part, count, seed in (("in_order", readings, 1), ("late", late, 2))}
            stats = cluster.wait_converged(300)
        finally:
            cluster.stop()
    return {"readings_per_s": {p: round(r["readings_per_s"]) for p, r in reports.items()},
            "p99_ms": {p: r["latency_ms"]["p99"] for p, r in reports.items()},
            "accepted": {p: r["accepted"] for p, r in reports.items()},
            "total_readings": int(stats[0]["total_readings"]),
            "nodes_agree": len({(s["total_readings"], s["state_digest"]) for s in stats}) == 1}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sensors", type=int, default=1000)
    p.add_argument("--readings", type=int, default=1_000_000, help="in order, first")
    p.add_argument("--late", type=int, default=100_000, help="late readings, then")
    p.add_argument("--passes", type=int, default=2)
    p.add_argument("--http", action="store_true", help="through HTTP into 3 nodes (see above)")
    p.add_argument("--concurrency", type=int, default=16, help="--http: batches in flight")
    p.add_argument("--baseline-src", type=Path, default=None)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    # Each sensor's late readings must end before its in-order ones do, or they are not late.
    if args.http and args.late >= args.readings:
        p.error("--http: --late must be below --readings (the late clock starts seconds after the first)")
    seconds = args.readings // args.sensors
    if not args.http and seconds <= LATE_OFFSET_US // 1_000_000 + args.late // args.sensors:
        p.error("--readings / --sensors must exceed 17 + --late / --sensors (seconds of readings)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = (measure_http(args.sensors, args.readings, args.late, args.concurrency) if args.http
              else measure(args.sensors, args.readings, args.late, args.passes))
    if args.child:
        print(json.dumps(result))
        return 0
    runs = {"current": result}
    if args.baseline_src is not None:
        # Here only: a child runs this file with the baseline's modules, which may lack it.
        from lithair_node.lab.bench.results import child_result

        runs["baseline"] = child_result(__file__, [
            "--sensors", str(args.sensors), "--readings", str(args.readings),
            "--late", str(args.late), "--passes", str(args.passes),
            "--concurrency", str(args.concurrency), *(["--http"] if args.http else [])],
            args.baseline_src)
    key = "readings_per_s" if args.http else "readings_per_cpu_s"
    print(f"{'readings/s' if args.http else 'readings/CPU s':<16}" + "".join(f"{name:>12}" for name in runs))
    for part in ("in_order", "late"):
        print(f"{part:<16}" + "".join(f"{r[key][part]:>12,}" for r in runs.values()))
    if args.http:
        for part in ("in_order", "late"):
            print(f"{'p99 ms, ' + part:<16}" + "".join(f"{r['p99_ms'][part]:>12}" for r in runs.values()))
    totals = {name: r["total_readings"] for name, r in runs.items()}
    print(f"{'total readings':<16}" + "".join(f"{t:>12,}" for t in totals.values()))
    if args.http:
        print(f"{'nodes agree':<16}" + "".join(f"{r['nodes_agree']!s:>12}" for r in runs.values()))
    report = {"benchmark": "late", "date": utc_now(), "machine": machine_info(),
              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "settings": {k: str(v) for k, v in vars(args).items()}, "runs": runs}
    path = write_results(args.out, "late", report)
    print(f"\nresults: {shown(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
