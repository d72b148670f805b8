"""The in-process queries of bench_queries, ours (the query functions over the machine's
state) and the baseline's (numpy scans of the flat table), checked to answer alike, and
timed."""

from __future__ import annotations

import gc
import inspect
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lithair_node.lab.bench.queries_data import (
    DAY_US,
    HOUR_US,
    LOCATIONS,
    METRICS,
    START_US,
    Dataset,
    build,
    location_of,
    sensor_name,
)
from lithair_node.machine import anomalies
from lithair_node.machine.stats import combine_by_key
from lithair_node.node.queries import buckets, series_reads


def range_length(data: Dataset) -> int:
    """1,000 readings, or half a series shorter than 2,000 (100,000 sensors x 100)."""
    return min(1_000, data.per_sensor // 2)


def range_name(data: Dataset) -> str:
    return f"range_{range_length(data)}"


def range_start(data: Dataset) -> int:
    return START_US + min(data.per_sensor // 3, data.per_sensor - range_length(data)) * data.step_us


def hourly(views: list[Any], metric: int, start: int, end: int) -> Any:
    """What GET /aggregate computes: one read of the metric over all the views where the
    tree has it (buckets.aggregate_metric); a tree from before it reads sensor by sensor."""
    functions = ("mean", "min", "max", "count")
    if hasattr(buckets, "aggregate_metric"):
        return buckets.aggregate_metric(views, metric, start, end, HOUR_US, functions)
    return buckets.aggregate(((ts, x[v.metric_ids.index(metric)]) for v in views
                              for ts, x in series_reads.iter_parts(v, start, end)),
                             HOUR_US, functions)


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
        return series_reads.latest_values(view(s))

    def latest_named(s: int) -> Any:  # before the engine, latest_values took the names
        return series_reads.latest_values(view(s), names)  # type: ignore[call-arg]

    def range_k(s: int) -> Any:
        start, k = range_start(data), range_length(data)
        ts, values, _ = series_reads.page(view(s), start, start + 2 * k * data.step_us, k)
        assert ts.shape[0] == k
        return series_reads.rows_as_dicts(ts, values, names)

    def day(s: int) -> tuple[int, int]:
        return day_start(data), day_start(data) + DAY_US

    def hourly_day(s: int) -> Any:
        out = hourly([view(s)], temperature, *day(s))
        assert len(out) == 24
        return out

    def hourly_day_location(s: int) -> Any:
        room = location_of(s)
        ids = state.sensors_at(room)
        _, views = state.views(ids)
        return hourly(views, temperature, *day(s))

    def stats_running(s: int) -> Any:
        found = state.read([sensor_name(s)], running=True)
        assert found.running is not None
        v = found.views[0]
        return series_reads.describe_stats(found.running[0], [names[m] for m in v.metric_ids])

    def stats_scan(s: int) -> Any:
        v = view(s)
        return series_reads.describe_stats(series_reads.range_stats(v, 0, 2**62),
                                           [names[m] for m in v.metric_ids])

    def stats_all(_: int) -> Any:
        if hasattr(state, "running_by_metric"):  # every cell in two gathers, no views
            _, metric_names, stats, keys = state.running_by_metric()
            return series_reads.describe_stats(combine_by_key(stats, keys, len(metric_names))[0],
                                               metric_names)
        found = state.read(state.sensor_ids_since(0), running=True)
        assert found.running is not None
        stats = np.concatenate(found.running, axis=1)
        keys = np.fromiter((m for v in found.views for m in v.metric_ids), dtype=np.int64)
        return series_reads.describe_stats(combine_by_key(stats, keys, len(names))[0], names)

    named = len(inspect.signature(series_reads.latest_values).parameters) > 1
    return {"latest": latest_named if named else latest, range_name(data): range_k,
            "hourly_day_sensor": hourly_day,
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

    def range_k(s: int) -> Any:
        start, k = range_start(data), range_length(data)
        rows = np.flatnonzero((sid == s) & (ts >= start) & (ts < start + 2 * k * data.step_us))
        rows = rows[np.argsort(ts[rows], kind="stable")][:k]
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

    return {"latest": latest, range_name(data): range_k, "hourly_day_sensor": hourly_day,
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
        assert mine[range_name(data)](s) == theirs[range_name(data)](s)
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


def run_layout(sensors: int, per_sensor: int, repeats: int, scan: bool = True) -> dict[str, Any]:
    """`scan`: also time the baseline's scans (a --baseline-src tree's run leaves them out)."""
    print(f"\nbuilding {sensors:,} sensors x {per_sensor:,} readings "
          f"= {sensors * per_sensor:,} readings by StateMachine.apply ...", flush=True)
    data = build(sensors, per_sensor)
    print(f"  built in {data.build_s:.1f} s ({data.applied_readings / data.build_s:,.0f} "
          f"readings/s applied); {data.state.anomalies()[2]:,} anomalies flagged", flush=True)
    check_same_answers(data)
    mine, theirs = ours(data), baseline(data)
    rows = {}
    for name in mine:
        rows[name] = {"lithair": timed(mine[name], sensors, repeats, 1)}
        if scan:
            rows[name]["baseline_scan"] = timed(theirs[name], sensors, max(5, repeats // 20), 1)
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
        original = anomalies.AnomalyDetector.observe
        if label == "without_anomalies":
            anomalies.AnomalyDetector.observe = lambda *a, **k: None  # type: ignore[method-assign]
        try:
            best = min(build(100, readings // 100).build_s for _ in range(2))
        finally:
            anomalies.AnomalyDetector.observe = original  # type: ignore[method-assign]
        out[label] = round(readings / best)
    return out
