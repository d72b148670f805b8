"""Ingest by sensor cardinality and offered load, beside etcd and InfluxDB in the same run.

    .venv/bin/python scripts/bench_cardinality.py            # ~15 minutes
    .venv/bin/python scripts/bench_cardinality.py --quick    # 8 s windows

Four parts, each on fresh clusters/servers and the same generated readings (batches of
`--batch` JSON rows; each of `--clients` client processes owns S/clients sensors and cycles
through them, so a batch touches min(batch, S/clients) sensors):
  sweep    for every S in --sensors: Lithair (3 nodes), etcd 3.4 (3 members, each batch one
           opaque value), InfluxDB 1.6 (1 node, the readings as line protocol) at
           --concurrency requests in flight
  load     Lithair at S = --load-sensors with --loads requests in flight: throughput must
           not fall as offered load rises, and refusals (429/503) are counted
  refusal  CPU per request of a node refusing every write at admission (no leader: the
           same pre-body path as a 429) beside CPU per accepted request in the sweep/load
  latency  Lithair open loop at 50% of the rate the sweep measured at S = --latency-sensors:
           p50/p99 ack

Results: tables on stdout and JSON in bench/results/cardinality-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from lithair_node.lab.bench.influx_system import INFLUX_HOWTO, bench_influx, influx_binary
from lithair_node.lab.bench.ingest_systems import (
    ETCD_HOWTO,
    bench_etcd,
    bench_lithair,
    etcd_binary,
    measure_load,
)
from lithair_node.lab.bench.procfs import machine_info
from lithair_node.lab.bench.refusal_cost import accepted_cpu_ms, refused_cpu_ms
from lithair_node.lab.bench.results import RESULTS_DIR, shown, utc_now, write_results

# Our systems: this checkout, and the baseline tree when one is given.
_OURS = ("lithair", "baseline")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sensors", default="10,1000,10000,100000", help="S values of the sweep")
    p.add_argument("--systems", default="lithair,etcd,influx")
    p.add_argument("--parts", default="sweep,load,refusal,latency")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--clients", type=int, default=4, help="client processes")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight (sweep)")
    p.add_argument("--load-sensors", type=int, default=10_000)
    p.add_argument("--loads", default="4,16,64", help="requests in flight (load part)")
    p.add_argument("--latency-sensors", type=int, default=1000)
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=4.0)
    p.add_argument("--quick", action="store_true", help="8 s windows, 2 s warm-up")
    p.add_argument("--lithair-arg", action="append", default=[])
    p.add_argument("--lithair-env", action="append", default=[])
    p.add_argument("--baseline-src", type=Path, default=None,
                   help="a source tree (e.g. `git archive HEAD` extracted) run as system "
                        "'baseline' beside lithair, in the sweep, load and refusal parts")
    p.add_argument("--label", default="")
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    p.add_argument("--tmp", default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 8.0, 2.0
    args.target = "all"
    return args


def _at(args: argparse.Namespace, sensors: int, **changes: Any) -> argparse.Namespace:
    """args for a run at S = `sensors` in all (per client: S / clients, rounded up)."""
    return argparse.Namespace(**{**vars(args), "sensors": max(1, math.ceil(sensors / args.clients)),
                                 **changes})


def _row(part: str, system: str, sensors: int, args: argparse.Namespace,
         result: dict[str, Any]) -> dict[str, Any]:
    return {"part": part, "system": system, "sensors": args.sensors * args.clients,
            "sensors_asked": sensors, "in_flight": args.concurrency, **result}


def _refused(row: dict[str, Any]) -> int:
    return sum(v for k, v in (row.get("errors") or {}).items() if k.startswith(("429", "503")))


def _fmt(value: float | None, pattern: str = "{:.2f}") -> str:
    return "-" if value is None else pattern.format(value)


def print_tables(runs: list[dict[str, Any]]) -> None:
    header = (f"{'part':<8}{'system':<9}{'S':>8}{'in flight':>10}{'readings/s':>12}{'x etcd':>8}"
              f"{'x influx':>9}{'p50 ms':>9}{'p99 ms':>9}{'refused':>9}{'other errors':>14}")
    lines = [header, "-" * len(header)]
    for row in runs:
        if row.get("readings_per_s") is None:
            lines.append(f"{row['part']:<8}{row['system']:<9}{row.get('sensors', '-'):>8}  "
                         f"{row.get('skipped') or row.get('error')}")
            continue

        def peer(name: str, row: dict[str, Any] = row) -> float | None:
            found = next((r["readings_per_s"] for r in runs if r["part"] == "sweep"
                          and r["system"] == name and r.get("sensors") == row["sensors"]
                          and r.get("readings_per_s")), None)
            if found is None or row["system"] not in _OURS or row["part"] != "sweep":
                return None
            return row["readings_per_s"] / found
        lat = row.get("latency_ms") or {}
        other = sum((row.get("errors") or {}).values()) - _refused(row)
        lines.append(f"{row['part']:<8}{row['system']:<9}{row['sensors']:>8,}{row['in_flight']:>10}"
                     f"{row['readings_per_s']:>12,}{_fmt(peer('etcd')):>8}{_fmt(peer('influx')):>9}"
                     f"{_fmt(lat.get('p50'), '{:.1f}'):>9}{_fmt(lat.get('p99'), '{:.1f}'):>9}"
                     f"{_refused(row):>9,}{other:>14,}")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    systems = [s for s in args.systems.split(",") if s]
    parts = [s for s in args.parts.split(",") if s]
    report: dict[str, Any] = {"benchmark": "cardinality", "date": utc_now(), "machine": machine_info(),
                              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                              "settings": {k: str(v) for k, v in vars(args).items()},
                              "label": args.label, "runs": []}
    runs: list[dict[str, Any]] = report["runs"]
    missing = {"etcd": (etcd_binary, ETCD_HOWTO), "influx": (influx_binary, INFLUX_HOWTO)}
    for name, (find, howto) in missing.items():
        if name in systems and find() is None:
            log(f"{name} skipped: not installed. Install it with: {howto}")
            runs.append({"part": "sweep", "system": name, "skipped": f"not installed ({howto})"})
            systems.remove(name)
    runners = {"lithair": bench_lithair, "etcd": bench_etcd,
               "influx": partial(bench_influx, measure=measure_load),
               "baseline": partial(bench_lithair, code=args.baseline_src)}
    if args.baseline_src is not None and "baseline" not in systems:
        systems.insert(1, "baseline")
    ours = [s for s in _OURS if s in systems]
    if "sweep" in parts:
        for sensors in [int(s) for s in args.sensors.split(",")]:
            for system in systems:
                at = _at(args, sensors)
                log(f"sweep: {system} at S={sensors:,}, {args.concurrency} in flight")
                runs.append(_row("sweep", system, sensors, at, runners[system](at, args.batch)))
                log(f"  -> {runs[-1]['readings_per_s']:,} readings/s, errors {runs[-1]['errors']}")
    if "load" in parts:
        for load in [int(x) for x in args.loads.split(",")]:
            for system in ours:  # interleaved: a noisy spell hits both alike
                at = _at(args, args.load_sensors, concurrency=load)
                log(f"load: {system} at S={args.load_sensors:,}, {load} in flight")
                runs.append(_row("load", system, args.load_sensors, at, runners[system](at, args.batch)))
                log(f"  -> {runs[-1]['readings_per_s']:,} readings/s, errors {runs[-1]['errors']}")
    if "refusal" in parts:
        at = _at(args, args.load_sensors)
        for system in ours:  # each beside its own accepted cost, from the sweep/load rows
            log(f"refusal: a leaderless {system} node at S={args.load_sensors:,}, "
                f"{args.concurrency} in flight")
            refusal = refused_cpu_ms(at, args.batch, code=args.baseline_src if system == "baseline" else None)
            accepted = next((accepted_cpu_ms(r) for r in runs if r["part"] in ("sweep", "load")
                             and r["system"] == system and r.get("sensors") == at.sensors * at.clients
                             and r.get("in_flight") == args.concurrency), None)
            refusal["cpu_ms_per_accepted"] = accepted
            if accepted and refusal["cpu_ms_per_refused"]:
                refusal["refused_over_accepted"] = round(refusal["cpu_ms_per_refused"] / accepted, 4)
            report["refusal" if system == "lithair" else "refusal_baseline"] = refusal
            log(f"  -> {refusal}")
    if "latency" in parts:
        at = _at(args, args.latency_sensors)
        top = next((r["readings_per_s"] for r in runs if r["part"] == "sweep" and r["system"] == "lithair"
                    and r["sensors"] == at.sensors * at.clients), None)
        if top is None:
            log(f"latency: measuring the max rate at S={args.latency_sensors:,} first")
            top = bench_lithair(at, args.batch)["readings_per_s"]
        rate_rps = top / 2 / args.batch
        log(f"latency: lithair open loop at 50% of {top:,} readings/s")
        runs.append({**_row("latency", "lithair", args.latency_sensors, at,
                            bench_lithair(at, args.batch, rate_rps=rate_rps)),
                     "offered_readings_per_s": round(rate_rps * args.batch)})
    print()
    print(f"bench_cardinality  {report['date']}  {report['machine']['cpu']} x{report['machine']['cores']}"
          f"  load at start {report['machine']['load_avg_at_start']}  batch {args.batch}")
    print_tables(runs)
    path = write_results(args.out, "cardinality", report)
    print(f"\nresults: {shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
