#!/usr/bin/env python3
"""Cold tier benchmark: N readings (Intel-Lab-like values) written to a local tier as the
leader would (one write per sealed segment), with zstd beside snappy and beside the engine's
own in-memory sealed segments; then one-sensor range reads and DuckDB over the files.

    .venv/bin/python scripts/bench_coldtier.py --readings 2000000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from lithair_node.lab.bench.results import RESULTS_DIR, shown, utc_now, write_results
from lithair_node.machine.engine.engine import SEAL_ROWS
from lithair_node.machine.engine.segment import seal
from lithair_node.node.coldtier.reader import ColdReader
from lithair_node.node.coldtier.store import open_store
from lithair_node.node.coldtier.writer import US_PER_DAY, ColdBatch, write

SAMPLE = Path("/work/shared/datasets/intel_lab_sample.txt")
METRICS = ("temperature", "humidity", "light", "voltage")
PERIOD_US = 31 * 1_000_000  # the Intel Lab motes' sampling period
DAY0 = 12_488 * US_PER_DAY  # 2004-03-11


def readings(n: int, sensors: int, seed: int = 2026) -> ColdBatch:
    """`n` readings of `sensors` motes every ~31 s, values drawn in runs from the sample
    (so neighbouring readings of a sensor look like the real series), rows in time order."""
    table = np.loadtxt(SAMPLE, usecols=(4, 5, 6, 7))
    rng = np.random.default_rng(seed)
    k = np.arange(n) // sensors
    sensor = np.arange(n) % sensors
    ts = DAY0 + k * PERIOD_US + rng.integers(0, PERIOD_US // 2, n) + sensor * 1000
    offset = rng.integers(0, table.shape[0], sensors)
    rows = (offset[sensor] + k) % table.shape[0]
    values = table[rows]
    values[rng.random(n) < 0.02, 2] = np.nan  # some light readings missing, as in the data
    names = [f"mote-{i:03d}" for i in range(sensors)]
    locations = [f"lab-{i % 6}" for i in range(sensors)]
    return ColdBatch(sensor, ts, names, locations, {m: values[:, i] for i, m in enumerate(METRICS)})


def chunks(batch: ColdBatch, rows: int) -> list[ColdBatch]:
    return [ColdBatch(batch.sensor[a:a + rows], batch.ts[a:a + rows], batch.sensor_names,
                      batch.locations, {m: v[a:a + rows] for m, v in batch.metrics.items()})
            for a in range(0, batch.rows, rows)]


def tier(root: Path, parts: list[ColdBatch], compression: str) -> dict[str, object]:
    store = open_store(str(root))
    t0 = time.perf_counter()
    files = [f for i, part in enumerate(parts) for f in write(store, part, i, compression=compression)]
    seconds = time.perf_counter() - t0
    n = sum(p.rows for p in parts)
    size = sum(f.bytes for f in files)
    return {"files": files, "store": store, "write_s": round(seconds, 3),
            "readings_per_s": round(n / seconds), "bytes": size, "bytes_per_reading": round(size / n, 3)}


def engine_segments(parts: list[ColdBatch]) -> float:
    """Bytes per reading of the same readings as the engine's sealed segments."""
    total = 0
    names = list(METRICS)
    for number, part in enumerate(parts):
        rows, metric, value = [], [], []
        for m, name in enumerate(names):
            present = np.flatnonzero(~np.isnan(part.metrics[name]))
            rows.append(present)
            metric.append(np.full(present.shape[0], m))
            value.append(part.metrics[name][present])
        segment = seal(number, part.sensor, part.ts, np.concatenate(rows), np.concatenate(metric),
                       np.concatenate(value))
        total += segment.nbytes()
    return total / sum(p.rows for p in parts)


def ms(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=2_000_000)
    parser.add_argument("--sensors", type=int, default=54)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    batch = readings(args.readings, args.sensors)
    parts = chunks(batch, SEAL_ROWS)
    work = Path(tempfile.mkdtemp(prefix="bench-coldtier-"))
    try:
        runs = {codec: tier(work / codec, parts, codec) for codec in ("zstd", "snappy")}
        engine_bpr = engine_segments(parts)
        zstd = runs["zstd"]
        reader = ColdReader(zstd["store"], zstd["files"])  # type: ignore[arg-type]
        days = int((batch.ts.max() - DAY0) // US_PER_DAY)
        rng = np.random.default_rng(1)
        picks = [(f"mote-{int(rng.integers(args.sensors)):03d}", DAY0 + int(rng.integers(days)) * US_PER_DAY)
                 for _ in range(20)]
        it = iter(picks)

        def read_one() -> None:
            sensor, day = next(it)
            assert reader.readings(sensor, day, day + US_PER_DAY, metrics=["temperature"]).rows > 0

        one_day = ms(read_one, len(picks))
        glob = f"{work / 'zstd'}/**/*.parquet"
        con = duckdb.connect()
        count_sql = f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning=true)"
        assert con.execute(count_sql).fetchone() == (batch.rows,)
        count_ms = ms(lambda: con.execute(count_sql).fetchall(), 5)
        day_sql = (f"SELECT day, count(*), avg(temperature) FROM read_parquet('{glob}', "
                   "hive_partitioning=true) GROUP BY day")
        per_day_ms = ms(lambda: con.execute(day_sql).fetchall(), 5)
    finally:
        shutil.rmtree(work)
    rows = [
        ("write readings/s (zstd)", f"{zstd['readings_per_s']:,}"),
        ("write readings/s (snappy)", f"{runs['snappy']['readings_per_s']:,}"),
        ("bytes/reading on disk (zstd)", zstd["bytes_per_reading"]),
        ("bytes/reading on disk (snappy)", runs["snappy"]["bytes_per_reading"]),
        ("bytes/reading, engine's sealed segments (memory)", round(engine_bpr, 3)),
        ("one-sensor one-day read ms (median of 20)", one_day),
        ("DuckDB count(*) ms (median of 5)", count_ms),
        ("DuckDB per-day count + avg(temperature) ms", per_day_ms),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{batch.rows:,} readings, {args.sensors} sensors, {days + 1} days, {len(parts)} writes")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    path = write_results(args.out, "coldtier", {
        "command": "python " + " ".join(sys.argv), "when": utc_now(),
        "readings": batch.rows, "sensors": args.sensors, "days": days + 1, "writes": len(parts),
        "files": len(zstd["files"]),  # type: ignore[arg-type]
        "zstd": {k: v for k, v in zstd.items() if k not in ("files", "store")},
        "snappy": {k: v for k, v in runs["snappy"].items() if k not in ("files", "store")},
        "engine_segment_bytes_per_reading": round(engine_bpr, 3),
        "one_sensor_one_day_read_ms": one_day, "duckdb_count_ms": count_ms,
        "duckdb_per_day_ms": per_day_ms,
        "note": "shared 2-core machine; the zstd and snappy rows are of the same run",
    })
    print(f"wrote {shown(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
