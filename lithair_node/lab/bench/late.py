"""Apply of late readings (older than their sensor's last, not duplicates), in process.

    .venv/bin/python scripts/bench_late.py --baseline-src DIR

A gateway that buffered through an outage, or two injectors whose clocks overlap, send
readings behind what their sensors already hold: each is looked up among the stored ones
(engine/dedup.py) before it is stored. First `--readings` in-order readings from
`--sensors` sensors (`client.sources.synthetic_batches`, one reading a sensor per second,
batch 1,000), then `--late` readings of the same sensors that fall between stored ones;
readings per CPU second of each part, best of `--passes` fresh state machines. With
--baseline-src the same runs of that tree follow in a child process.
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sensors", type=int, default=1000)
    p.add_argument("--readings", type=int, default=1_000_000, help="in order, first")
    p.add_argument("--late", type=int, default=100_000, help="late readings, then")
    p.add_argument("--passes", type=int, default=2)
    p.add_argument("--baseline-src", type=Path, default=None)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    # Each sensor's late readings must end before its in-order ones do, or they are not late.
    if args.readings // args.sensors <= LATE_OFFSET_US // 1_000_000 + args.late // args.sensors:
        p.error("--readings / --sensors must exceed 17 + --late / --sensors (seconds of readings)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = measure(args.sensors, args.readings, args.late, args.passes)
    if args.child:
        print(json.dumps(result))
        return 0
    runs = {"current": result}
    if args.baseline_src is not None:
        # Here only: a child runs this file with the baseline's modules, which may lack it.
        from lithair_node.lab.bench.results import child_result

        runs["baseline"] = child_result(__file__, [
            "--sensors", str(args.sensors), "--readings", str(args.readings),
            "--late", str(args.late), "--passes", str(args.passes)], args.baseline_src)
    print(f"{'readings/CPU s':<16}" + "".join(f"{name:>12}" for name in runs))
    for part in ("in_order", "late"):
        print(f"{part:<16}" + "".join(f"{r['readings_per_cpu_s'][part]:>12,}" for r in runs.values()))
    totals = {name: r["total_readings"] for name, r in runs.items()}
    print(f"{'total readings':<16}" + "".join(f"{t:>12,}" for t in totals.values()))
    report = {"benchmark": "late", "date": utc_now(), "machine": machine_info(),
              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "settings": {k: str(v) for k, v in vars(args).items()}, "runs": runs}
    path = write_results(args.out, "late", report)
    print(f"\nresults: {shown(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
