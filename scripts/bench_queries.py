#!/usr/bin/env python3
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
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lithair_node.machine import anomalies as state_module  # noqa: E402
from lithair_node.machine.commands import BatchColumns, encode_ingest, make_encoded_batch  # noqa: E402
from lithair_node.machine.state import LogEntry, StateMachine  # noqa: E402
from lithair_node.node.queries import buckets, series_reads  # noqa: E402

METRICS = ["humidity", "pressure", "temperature", "voltage"]
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


def step_for(per_sensor: int) -> int:
    """One reading per sensor every 10 s, or sparser so that a series spans two days."""
    return max(10_000_000, -(-2 * DAY_US // per_sensor) // 1_000_000 * 1_000_000 + 1_000_000)
LOCATIONS = 50


def sensor_name(i: int) -> str:
    return f"sensor-{i:05d}"


def location_of(i: int) -> str:
    return f"room-{i % LOCATIONS:02d}"


def values_for(sensor: np.ndarray, tick: np.ndarray) -> np.ndarray:
    phase = sensor * 0.37
    t = tick.astype(np.float64)
    temperature = 21 + 4 * np.sin(t / 360 + phase) + 0.3 * np.sin(t * 1.7 + 3 * phase)
    temperature = temperature + np.where(tick % 5003 == 17, 25.0, 0.0)  # rare spikes
    humidity = 45 + 10 * np.cos(t / 500 + phase) + 0.5 * np.sin(t * 2.3)
    pressure = 1013 + 2 * np.sin(t / 5000 + phase)
    voltage = 3.0 - t * 1e-7 + 0.01 * np.sin(t * 0.9)
    return np.vstack((humidity, pressure, temperature, voltage))  # METRICS order


@dataclass
class Dataset:
    state: StateMachine
    table_sensor: np.ndarray  # baseline: one row per stored reading, arrival order
    table_ts: np.ndarray
    table_values: np.ndarray
    sensors: int
    per_sensor: int
    step_us: int
    build_s: float
    applied_readings: int


def build(sensors: int, per_sensor: int, batch_readings: int = 10_000) -> Dataset:
    """Apply real encoded entries: time-ordered round robin, 1% late, 0.1% duplicates."""
    state = StateMachine()
    step_us = step_for(per_sensor)
    ticks_per_batch = max(1, batch_readings // sensors)
    batches = -(-per_sensor // ticks_per_batch)
    rng = np.random.default_rng(42)
    names = [sensor_name(i) for i in range(sensors)]
    locations = [location_of(i) for i in range(sensors)]
    held: list[tuple[np.ndarray, np.ndarray]] = []  # late readings waiting for batch b
    table: list[tuple[np.ndarray, np.ndarray]] = []
    previous: tuple[np.ndarray, np.ndarray] | None = None
    index = 1
    applied = 0
    started = time.perf_counter()
    for b in range(batches + 5):
        if b < batches:
            t0, t1 = b * ticks_per_batch, min(per_sensor, (b + 1) * ticks_per_batch)
            sensor = np.repeat(np.arange(sensors), t1 - t0)
            tick = np.tile(np.arange(t0, t1), sensors)
            late = rng.random(sensor.shape[0]) < 0.01
            if b + 5 <= batches + 4:
                held.append((sensor[late], tick[late]))
            sensor, tick = sensor[~late], tick[~late]
        else:
            sensor = tick = np.empty(0, dtype=np.int64)
        if b >= 5 and held:
            s_late, t_late = held.pop(0)
            sensor, tick = np.concatenate((sensor, s_late)), np.concatenate((tick, t_late))
        fresh_sensor, fresh_tick = sensor, tick
        if previous is not None and previous[0].shape[0]:
            dup = rng.random(previous[0].shape[0]) < 0.001
            sensor = np.concatenate((sensor, previous[0][dup]))
            tick = np.concatenate((tick, previous[1][dup]))
        previous = (fresh_sensor, fresh_tick)
        if sensor.shape[0] == 0:
            continue
        table.append((fresh_sensor, fresh_tick))
        order = np.lexsort((tick, sensor))
        sensor, tick = sensor[order], tick[order]
        present = np.unique(sensor)
        counts = np.bincount(sensor, minlength=sensors)[present].astype(np.uint32)
        columns = BatchColumns(
            sensors=[names[i] for i in present.tolist()],
            counts=counts,
            locations=[locations[i] for i in present.tolist()],
            ts=START_US + tick.astype(np.int64) * step_us,
            metrics=METRICS,
            values=np.ascontiguousarray(values_for(sensor, tick)),
            in_batch_duplicates=0,
        )
        index += 1
        entry = LogEntry(index, 1, encode_ingest([make_encoded_batch(columns, f"b{index}",
                                                                     int(tick.shape[0]))]))
        result = state.apply(entry)
        assert result.error is None and result.batches[0].status == "ok", result
        applied += int(tick.shape[0])
    build_s = time.perf_counter() - started
    table_sensor = np.concatenate([s for s, _ in table]).astype(np.int32)
    table_tick = np.concatenate([t for _, t in table])
    table_ts = START_US + table_tick.astype(np.int64) * step_us
    table_values = values_for(table_sensor, table_tick)
    assert state.stats()["total_readings"] == sensors * per_sensor == table_ts.shape[0]
    return Dataset(state, table_sensor, table_ts, table_values, sensors, per_sensor, step_us,
                   build_s, applied)


# -- the queries, ours and the baseline's ---------------------------------------------------------


def range_start(data: Dataset) -> int:
    return START_US + min(data.per_sensor // 3, data.per_sensor - 1_000) * data.step_us


def day_start(data: Dataset) -> int:
    """A whole UTC day inside every series."""
    return START_US + (data.per_sensor * data.step_us // 2) // DAY_US * DAY_US


def ours(data: Dataset) -> dict[str, Callable[[int], Any]]:
    state = data.state
    names = state.metric_names()
    temperature = names.index("temperature")

    def view(s: int):  # type: ignore[no-untyped-def]
        return state.views([sensor_name(s)])[1][0]

    def latest(s: int) -> Any:
        return series_reads.latest_values(view(s), names)

    def range_1000(s: int) -> Any:
        start = range_start(data)
        ts, values, _ = series_reads.page(view(s), start, start + 2_000 * data.step_us, 1_000)
        assert ts.shape[0] == 1_000
        return series_reads.rows_as_dicts(ts, values, names)

    def day(s: int) -> tuple[int, int]:
        return day_start(data), day_start(data) + DAY_US

    def hourly_day(s: int) -> Any:
        v = view(s)
        row = v.metric_ids.index(temperature)
        start, end = day(s)
        out = buckets.aggregate(((ts, x[row]) for ts, x in series_reads.iter_parts(v, start, end)),
                                HOUR_US, ("mean", "min", "max", "count"))
        assert len(out) == 24
        return out

    def hourly_day_location(s: int) -> Any:
        room = location_of(s)
        ids = state.sensors_at(room)
        _, views = state.views(ids)
        start, end = day(s)
        rows = [(v, v.metric_ids.index(temperature)) for v in views]
        return buckets.aggregate(((ts, x[row]) for v, row in rows
                                  for ts, x in series_reads.iter_parts(v, start, end)),
                                 HOUR_US, ("mean", "min", "max", "count"))

    def stats_running(s: int) -> Any:
        with state.lock:
            v = view(s)
            stats = state.cell_stats(v.cells)
        return series_reads.describe_stats(stats, [names[m] for m in v.metric_ids])

    def stats_scan(s: int) -> Any:
        v = view(s)
        return series_reads.describe_stats(series_reads.range_stats(v, 0, 2**62),
                                           [names[m] for m in v.metric_ids])

    def stats_all(_: int) -> Any:
        with state.lock:
            _, views = state.views(state.sensor_ids_since(0))
            cells = [c for v in views for c in v.cells]
            stats = state.cell_stats(tuple(cells))
        keys = np.fromiter((m for v in views for m in v.metric_ids), dtype=np.int64)
        return series_reads.describe_stats(series_reads.combine_by_key(stats, keys, len(names)),
                                           names)

    return {"latest": latest, "range_1000": range_1000, "hourly_day_sensor": hourly_day,
            "hourly_day_location": hourly_day_location, "stats_sensor_running": stats_running,
            "stats_sensor_scan": stats_scan, "stats_all_readings": stats_all}


def baseline(data: Dataset) -> dict[str, Callable[[int], Any]]:
    sid, ts, values = data.table_sensor, data.table_ts, data.table_values
    sensor_location = np.arange(data.sensors) % LOCATIONS
    temperature = METRICS.index("temperature")

    def latest(s: int) -> Any:
        rows = np.flatnonzero(sid == s)
        best = rows[np.argmax(ts[rows])]
        return int(ts[best]), values[:, best].tolist()

    def range_1000(s: int) -> Any:
        start = range_start(data)
        rows = np.flatnonzero((sid == s) & (ts >= start) & (ts < start + 2_000 * data.step_us))
        rows = rows[np.argsort(ts[rows], kind="stable")][:1_000]
        return series_reads.rows_as_dicts(ts[rows], values[:, rows], METRICS)

    def day_bounds() -> tuple[int, int]:
        return day_start(data), day_start(data) + DAY_US

    def hourly(mask: np.ndarray) -> Any:
        rows = np.flatnonzero(mask)
        hour = (ts[rows] - day_bounds()[0]) // HOUR_US
        x = values[temperature, rows]
        count = np.bincount(hour, minlength=24)
        mean = np.bincount(hour, weights=x, minlength=24) / np.maximum(count, 1)
        low = np.full(24, np.inf)
        high = np.full(24, -np.inf)
        np.minimum.at(low, hour, x)
        np.maximum.at(high, hour, x)
        return count, mean, low, high

    def hourly_day(s: int) -> Any:
        start, end = day_bounds()
        return hourly((sid == s) & (ts >= start) & (ts < end))

    def hourly_day_location(s: int) -> Any:
        start, end = day_bounds()
        in_room = sensor_location[sid] == s % LOCATIONS
        return hourly(in_room & (ts >= start) & (ts < end))

    def stats_of(rows: np.ndarray | slice) -> Any:
        x = values[:, rows]
        return x.shape[1], x.mean(axis=1), x.std(axis=1, ddof=1), x.min(axis=1), x.max(axis=1)

    def stats_sensor(s: int) -> Any:
        return stats_of(np.flatnonzero(sid == s))

    return {"latest": latest, "range_1000": range_1000, "hourly_day_sensor": hourly_day,
            "hourly_day_location": hourly_day_location, "stats_sensor_running": stats_sensor,
            "stats_sensor_scan": stats_sensor, "stats_all_readings": lambda _: stats_of(slice(None))}


def timed(fn: Callable[[int], Any], sensors: int, repeats: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, sensors, repeats + 2).tolist()
    for s in picks[:2]:
        fn(s)  # warm up
    samples = []
    for s in picks[2:]:
        started = time.perf_counter()
        fn(s)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 4),
            "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 4),
            "repeats": repeats}


def check_same_answers(data: Dataset) -> None:
    """Ours and the baseline must agree before their speed is compared."""
    mine, theirs = ours(data), baseline(data)
    for s in (0, data.sensors // 2, data.sensors - 1):
        ts, values = mine["latest"](s)
        assert theirs["latest"](s) == (ts, [values[m] for m in METRICS])
        assert mine["range_1000"](s) == theirs["range_1000"](s)
        got = mine["hourly_day_sensor"](s)
        count, mean, low, high = theirs["hourly_day_sensor"](s)
        assert [b["count"] for b in got] == count.tolist()
        assert np.allclose([b["mean"] for b in got], mean, rtol=1e-12)
        assert [b["min"] for b in got] == low.tolist()
        assert [b["max"] for b in got] == high.tolist()
        n, avg, std, _, _ = theirs["stats_sensor_scan"](s)
        for stats in (mine["stats_sensor_running"](s), mine["stats_sensor_scan"](s)):
            assert stats["temperature"]["count"] == n
            assert np.isclose(stats["temperature"]["mean"], avg[METRICS.index("temperature")],
                              rtol=1e-9)
            assert np.isclose(stats["temperature"]["stddev"], std[METRICS.index("temperature")],
                              rtol=1e-9)


def run_layout(sensors: int, per_sensor: int, repeats: int) -> dict[str, Any]:
    print(f"\nbuilding {sensors:,} sensors x {per_sensor:,} readings "
          f"= {sensors * per_sensor:,} readings by StateMachine.apply ...", flush=True)
    data = build(sensors, per_sensor)
    print(f"  built in {data.build_s:.1f} s ({data.applied_readings / data.build_s:,.0f} "
          f"readings/s applied); {data.state.anomalies()[2]:,} anomalies flagged", flush=True)
    check_same_answers(data)
    mine, theirs = ours(data), baseline(data)
    rows = {}
    for name in mine:
        rows[name] = {"lithair": timed(mine[name], sensors, repeats, 1),
                      "baseline_scan": timed(theirs[name], sensors, max(5, repeats // 20), 1)}
    result = {"sensors": sensors, "readings_per_sensor": per_sensor,
              "readings": sensors * per_sensor, "build_s": round(data.build_s, 2),
              "apply_readings_per_s": round(data.applied_readings / data.build_s),
              "anomalies_flagged": data.state.anomalies()[2], "queries": rows}
    del data, mine, theirs
    gc.collect()
    return result


def anomaly_overhead(readings: int = 1_000_000) -> dict[str, float]:
    """Apply cost with and without the anomaly detector, same entries (same invocation)."""
    out = {}
    for label in ("with_anomalies", "without_anomalies"):
        original = state_module.AnomalyDetector.observe
        if label == "without_anomalies":
            state_module.AnomalyDetector.observe = lambda *a, **k: None  # type: ignore[method-assign]
        try:
            best = min(build(100, readings // 100).build_s for _ in range(2))
        finally:
            state_module.AnomalyDetector.observe = original  # type: ignore[method-assign]
        out[label] = round(readings / best)
    return out


# -- HTTP ----------------------------------------------------------------------------------------------


async def http_part(readings: int, repeats: int) -> dict[str, Any]:
    import aiohttp
    import msgpack

    from lithair_node.lab.local_cluster import LocalCluster

    sensors = 1_000
    per_sensor = readings // sensors
    step_us = step_for(per_sensor)
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(Path(tmp), nodes=1, extra_args=("--max-pending-readings", "2000000"))
        cluster.start()
        try:
            cluster.wait_ready(timeout_s=60)
            url = cluster.urls[0]
            print(f"\nHTTP: filling one node with {readings:,} readings ...", flush=True)
            started = time.perf_counter()
            step = max(1, 10_000 // sensors)  # ticks per batch: 10,000 readings a batch
            starts = iter(range(0, per_sensor, step))
            timeout = aiohttp.ClientTimeout(total=120)
            async with aiohttp.ClientSession(timeout=timeout) as session:

                async def sender() -> None:
                    # Bodies are built one at a time per sender: memory stays flat.
                    for t0 in starts:
                        t1 = min(per_sensor, t0 + step)
                        sensor = np.repeat(np.arange(sensors), t1 - t0)
                        tick = np.tile(np.arange(t0, t1), sensors)
                        vals = values_for(sensor, tick)
                        ts = (START_US + tick * step_us) / 1e6
                        body = msgpack.packb({"readings": [
                            {"sensor_id": sensor_name(s), "timestamp": t,
                             "location": location_of(s), "humidity": h, "pressure": p,
                             "temperature": tt, "voltage": v}
                            for s, t, h, p, tt, v in zip(sensor.tolist(), ts.tolist(),
                                                         *vals.tolist(), strict=True)]})
                        for _ in range(100):
                            async with session.post(f"{url}/api/v1/batches", data=body, headers={
                                    "Content-Type": "application/msgpack",
                                    "Idempotency-Key": f"fill-{t0}"}) as response:
                                await response.read()
                                if response.status == 200:
                                    break
                            await asyncio.sleep(0.2)
                        else:
                            raise RuntimeError("fill failed")

                await asyncio.gather(*(sender() for _ in range(4)))
            fill_s = time.perf_counter() - started
            print(f"  filled in {fill_s:.0f} s ({readings / fill_s:,.0f} readings/s)", flush=True)
            start_day = START_US + (per_sensor * step_us // 2) // DAY_US * DAY_US
            window = f"from={start_day // 1_000_000}&to={(start_day + DAY_US) // 1_000_000}"
            range_from = (START_US + min(per_sensor // 3, per_sensor - 1_000) * step_us) // 1_000_000
            paths = {
                "health_floor": "/health",
                "latest": "/api/v1/sensors/{s}/latest",
                "range_1000": f"/api/v1/sensors/{{s}}/readings?from={range_from}&limit=1000",
                "hourly_day_sensor": "/api/v1/aggregate?metric=temperature&every=1h&sensor_id={s}"
                                     f"&{window}&fn=mean,min,max,count",
                "hourly_day_location": "/api/v1/aggregate?metric=temperature&every=1h&location={room}"
                                       f"&{window}&fn=mean,min,max,count",
                "stats_sensor_running": "/api/v1/sensors/{s}/stats",
                "stats_sensor_scan": "/api/v1/sensors/{s}/stats?from=0",
                "latest_linearizable": "/api/v1/sensors/{s}/latest?consistency=linearizable",
            }
            results = {}
            async with aiohttp.ClientSession() as session:
                for name, template in paths.items():
                    samples = []
                    rng = np.random.default_rng(3)
                    for i in range(repeats + 3):
                        s = int(rng.integers(0, sensors))
                        path = template.format(s=sensor_name(s), room=location_of(s))
                        began = time.perf_counter()
                        async with session.get(url + path) as response:
                            body = await response.read()
                            assert response.status == 200, (path, body[:200])
                        if i >= 3:
                            samples.append((time.perf_counter() - began) * 1000)
                    samples.sort()
                    results[name] = {"p50_ms": round(statistics.median(samples), 3),
                                     "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 3),
                                     "repeats": repeats, "bytes": len(body)}
                async with session.get(f"{url}/api/v1/stats") as response:
                    node_stats = await response.json()
            assert node_stats["total_readings"] == readings, node_stats
            return {"readings": readings, "fill_s": round(fill_s, 1),
                    "memory_usage_mb": node_stats["memory_usage_mb"], "queries": results}
        finally:
            cluster.stop()


async def consistency_part(repeats: int) -> dict[str, Any]:
    """Latency of each consistency level, asked of a follower of a 3-node cluster."""
    import aiohttp

    from lithair_node.lab.local_cluster import LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(Path(tmp), nodes=3)
        cluster.start()
        try:
            cluster.wait_ready(timeout_s=60)
            leader = cluster.leader_index()
            follower = cluster.urls[next(i for i in range(3) if i != leader)]
            results = {}
            async with aiohttp.ClientSession() as session:
                body = {"readings": [{"sensor_id": "c", "timestamp": t, "temperature": 1.0}
                                     for t in range(100)]}
                async with session.post(f"{follower}/api/v1/batches", json=body) as response:
                    assert response.status == 200
                for name, path in (("health_floor", "/health"),
                                   ("local", "/api/v1/sensors/c/latest"),
                                   ("leader", "/api/v1/sensors/c/latest?consistency=leader"),
                                   ("linearizable",
                                    "/api/v1/sensors/c/latest?consistency=linearizable")):
                    samples = []
                    for i in range(repeats + 3):
                        began = time.perf_counter()
                        async with session.get(follower + path) as response:
                            await response.read()
                            assert response.status == 200
                        if i >= 3:
                            samples.append((time.perf_counter() - began) * 1000)
                    samples.sort()
                    results[name] = {"p50_ms": round(statistics.median(samples), 3),
                                     "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 3),
                                     "repeats": repeats}
            return results
        finally:
            cluster.stop()


def print_table(title: str, rows: dict[str, Any], columns: list[str]) -> None:
    print(f"\n{title}")
    print(f"{'query':24}" + "".join(f"{c + ' p50/p95 ms':>28}" for c in columns) + f"{'speed-up':>10}")
    for name, row in rows.items():
        cells = "".join(f"{row[c]['p50_ms']:>14.4f} / {row[c]['p95_ms']:<11.4f}" for c in columns)
        ratio = (row[columns[1]]["p50_ms"] / row[columns[0]]["p50_ms"]) if len(columns) > 1 else None
        print(f"{name:24}{cells}" + (f"{ratio:>9.0f}x" if ratio else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1M readings, fewer repeats")
    parser.add_argument("--http-readings", type=int, default=None,
                        help="readings loaded into the HTTP node (default: as in-process)")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    total = 1_000_000 if args.quick else 10_000_000
    repeats = 40 if args.quick else args.repeats
    report: dict[str, Any] = {
        "script": "scripts/bench_queries.py", "argv": sys.argv[1:],
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(),
                    "platform": platform.platform()},
        "layouts": [],
    }
    for sensors in (1_000, 10):
        layout = run_layout(sensors, total // sensors, repeats)
        report["layouts"].append(layout)
        print_table(f"in-process, {sensors:,} sensors x {total // sensors:,} readings "
                    f"({total:,} stored)", layout["queries"], ["lithair", "baseline_scan"])
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
    print(f"\nwrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
