"""Issue 11's attack shape, in one process: log entry bytes and engine bytes when writes
bring many metric names and each reading carries a few.

  big      sensor `big` with --readings readings of one metric (1,000-reading entries)
  names    then --requests entries of one reading of `big` carrying 64 new names each
           (the 947-byte POSTs of the issue), until the per-sensor limit refuses one
  sparse   one batch of 400 readings of a new sensor, 64 names, one value a reading
  full     one batch of 400 readings, each carrying all 64 names (stays dense)

For each entry: its bytes as this version encodes it and as the previous one did (dense
matrix, NaN = absent), the engine's bytes before and after (Engine.nbytes), the outcome.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import msgpack
import numpy as np

from lithair_node.lab.bench.results import RESULTS_DIR, shown, utc_now, write_results
from lithair_node.machine.commands import (
    VALUE_DTYPE,
    BatchColumns,
    MetricLimits,
    encode_ingest,
    make_encoded_batch,
)
from lithair_node.machine.entries import LogEntry
from lithair_node.machine.state import StateMachine
from lithair_node.node.ingest.validation import Limits, validate_batch

T0 = 1_700_000_000
NAMES = 64


def dense_entry_bytes(columns: BatchColumns) -> int:
    """The entry as the previous version encoded it: values always the dense matrix."""
    fields = [columns.sensors, columns.counts.astype("<u4").tobytes(), columns.locations,
              columns.ts.astype("<i8").tobytes(), columns.metrics,
              np.ascontiguousarray(columns.values, VALUE_DTYPE).tobytes(),
              columns.in_batch_duplicates]
    return len(msgpack.packb([1, "ingest", [[None, b"\0" * 16, fields]]], use_bin_type=True))


class Run:
    def __init__(self, limits: MetricLimits) -> None:
        self.state = StateMachine()
        self.limits = limits
        self.index = 0

    def write(self, readings: list[dict[str, Any]]) -> dict[str, Any]:
        columns, received = validate_batch({"readings": readings}, Limits(max_readings=100_000))
        entry = encode_ingest([make_encoded_batch(columns, None, received)], self.limits)
        engine = self.state._tables.engine
        before = engine.nbytes()
        self.index += 1
        outcome = self.state.apply(LogEntry(self.index, 1, entry)).batches[0]
        return {"readings": received, "values": int(np.count_nonzero(~np.isnan(columns.values))),
                "metrics": len(columns.metrics), "entry_bytes": len(entry),
                "entry_bytes_dense": dense_entry_bytes(columns),
                "engine_bytes_added": engine.nbytes() - before, "status": outcome.status,
                "message": outcome.message}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--readings", type=int, default=100_000, help="of sensor big")
    p.add_argument("--requests", type=int, default=5, help="of 64 new names each")
    args = p.parse_args(argv)
    run = Run(MetricLimits())
    for start in range(0, args.readings, 1000):
        run.write([{"sensor_id": "big", "timestamp": T0 + i, "t": 1.5}
                   for i in range(start, min(start + 1000, args.readings))])
    big_bytes = run.state._tables.engine.nbytes()
    names = [run.write([{"sensor_id": "big", "timestamp": T0 + 10**6 + r,
                         **{f"n{r}_{i:02d}": float(i) for i in range(NAMES)}}])
             for r in range(args.requests)]
    sparse = run.write([{"sensor_id": "wide", "timestamp": T0 + i, f"w{i % NAMES:02d}": float(i)}
                        for i in range(400)])
    full = run.write([{"sensor_id": "full", "timestamp": T0 + i,
                       **{f"w{m:02d}": float(i + m) for m in range(NAMES)}} for i in range(400)])
    results = {"created": utc_now(), "readings_of_big": args.readings,
               "engine_bytes_with_big": big_bytes, "limits": [256, 10_000],
               "names": names, "sparse": sparse, "full": full}
    path = write_results(RESULTS_DIR, "metric-names", results)
    print(json.dumps({k: v for k, v in results.items() if k != "names"}, indent=1))
    for row in names:
        print(row)
    print(f"wrote {shown(path)}")
    return 0
