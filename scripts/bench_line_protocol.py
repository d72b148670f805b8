"""Line protocol beside JSON batches, on one core, in one run: the same 1,000 readings x 5
metrics decoded and validated into the same BatchColumns, best of N rounds.

    .venv/bin/python scripts/bench_line_protocol.py [--readings 1000] [--rounds 30]

Prints µs per reading (and per 1,000-line body) for: line-protocol parsing alone; parsing,
mapping and validation (what POST /api/v2/write does before proposing); and orjson.loads +
validate_batch of the same readings as a row body and as a column body.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lithair_node.node.ingest.line_protocol import parse_body
from lithair_node.node.ingest.line_protocol_readings import (
    LineProtocolMapping,
    line_protocol_batch,
)
from lithair_node.node.ingest.validation import Limits, validate_batch

METRICS = ("temperature", "humidity", "light", "voltage", "pressure")
T0_S = 1_700_000_000


def bodies(n: int) -> tuple[bytes, bytes, bytes]:
    """(line protocol, JSON rows, JSON columns) of the same readings: 50 sensors, 5 metrics."""
    rng = np.random.default_rng(7)
    values = np.round(rng.normal(20, 5, size=(n, len(METRICS))), 2).tolist()
    sensors = [f"mote{i % 50}" for i in range(n)]
    stamps = [T0_S + i // 50 for i in range(n)]
    lines = "\n".join(
        f"readings,sensor_id={s},location=lab " + ",".join(f"{m}={v!r}" for m, v in zip(METRICS, row,
                                                                                     strict=True))
        + f" {t}" for s, t, row in zip(sensors, stamps, values, strict=True))
    rows = [{"sensor_id": s, "timestamp": t, "location": "lab", **dict(zip(METRICS, row, strict=True))}
            for s, t, row in zip(sensors, stamps, values, strict=True)]
    columns = {"sensor_id": sensors, "timestamp": stamps, "location": ["lab"] * n,
               **{m: [row[k] for row in values] for k, m in enumerate(METRICS)}}
    return lines.encode(), orjson.dumps({"readings": rows}), orjson.dumps({"columns": columns})


def best_us(run: Callable[[], object], rounds: int) -> float:
    return min(timeit.repeat(run, number=5, repeat=rounds)) / 5 * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    n, limits, mapping = args.readings, Limits(), LineProtocolMapping()
    lp, rows, columns = bodies(n)
    lp_columns = line_protocol_batch(lp, unit_ns=10**9, received_ns=0, mapping=mapping, limits=limits)[0]
    json_columns = validate_batch(orjson.loads(rows), limits)[0]
    assert lp_columns.ts.tolist() == json_columns.ts.tolist(), "the bodies differ"
    assert np.array_equal(lp_columns.values, json_columns.values), "the bodies differ"
    runs = {
        "line protocol: parse": lambda: parse_body(lp, unit_ns=10**9, received_ns=0, max_points=n),
        "line protocol: parse + map + validate": lambda: line_protocol_batch(
            lp, unit_ns=10**9, received_ns=0, mapping=mapping, limits=limits),
        "JSON rows: orjson.loads + validate_batch": lambda: validate_batch(orjson.loads(rows), limits),
        "JSON columns: orjson.loads + validate_batch": lambda: validate_batch(orjson.loads(columns), limits),
    }
    print(f"{n} readings x {len(METRICS)} metrics; best of {args.rounds} rounds")
    for name, run in runs.items():
        micros = best_us(run, args.rounds)
        print(f"  {name:45s} {micros / n:6.2f} µs/reading  {micros / 1000:6.2f} ms/body")


if __name__ == "__main__":
    main()
