"""Query functions over SensorViews: ranges, pages, stats, buckets, export, summaries."""

from __future__ import annotations

import io
import random

import numpy as np
import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet
import pytest

from lithair_node.client.formats.intel_lab import read_readings
from lithair_node.machine.engine import engine as engine_module
from lithair_node.machine.state import StateMachine
from lithair_node.machine.stats import combine_by_key
from lithair_node.node.errors import InvalidParameter
from lithair_node.node.http.params import duration_param, time_param, time_range
from lithair_node.node.queries import buckets, export, series_reads
from lithair_node.node.queries.sensors import SensorDirectory, page_after, summary
from tests.intel_reference import close, hourly_means, parse_file, per_mote_stats
from tests.machine.state_helpers import apply_all, ingest_entry

S = 1_000_000


def mixed_state(delta_limit_patch=None) -> tuple[StateMachine, dict[int, dict[str, float]]]:
    """One sensor 'a' written out of order with duplicates and changing metric sets.
    Returns the state and the expected content {ts_us: {metric: value}} (first write wins)."""
    rng = random.Random(7)
    stamps = list(range(0, 5_000, 2))
    rng.shuffle(stamps)
    expected: dict[int, dict[str, float]] = {}
    entries = []
    for batch_no in range(0, len(stamps), 250):
        batch = []
        for t in stamps[batch_no:batch_no + 250]:
            reading = {"sensor_id": "a", "timestamp": t, "temperature": float(t % 97)}
            if t % 3 == 0:
                reading["humidity"] = t / 10.0
            if t % 5 == 0:
                reading = {"sensor_id": "a", "timestamp": t, "co2": 400.0 + t}
            batch.append(reading)
            expected.setdefault(t * S, {k: v for k, v in reading.items()
                                        if k not in ("sensor_id", "timestamp")})
        # re-send a few earlier stamps with other values: duplicates, first write wins
        batch += [{"sensor_id": "a", "timestamp": t, "temperature": -1.0}
                  for t in stamps[max(0, batch_no - 10):batch_no]]
        entries.append(ingest_entry(2 + len(entries), batch))
    state = StateMachine()
    apply_all(state, entries)
    return state, expected


@pytest.fixture
def small_delta(monkeypatch):
    monkeypatch.setattr(engine_module, "SEAL_ROWS", 300)  # readings in sealed segments too


def view_and_names(state: StateMachine, sensor: str):
    _, views = state.views([sensor])
    return views[0], state.metric_names()


@pytest.mark.parametrize("rows", [1, 7, 1000, 100_000])
def test_iter_chunks_returns_the_range_in_order_whatever_the_chunking(rows, small_delta) -> None:
    state, expected = mixed_state()
    view, _ = view_and_names(state, "a")
    assert len(view.engine.segments) > 1  # the range spans sealed segments
    for start, end in [(0, 10**18), (1_000 * S, 1_001 * S), (777 * S + 1, 4_321 * S), (5, 5)]:
        chunks = list(series_reads.iter_chunks(view, start, end, rows))
        ts = np.concatenate([c[0] for c in chunks]) if chunks else np.empty(0, dtype=np.int64)
        want = sorted(t for t in expected if start <= t < end)
        assert ts.tolist() == want
        assert series_reads.count_between(view, start, end) == len(want)


def test_pages_walk_the_whole_range_without_gaps_or_repeats(small_delta) -> None:
    state, expected = mixed_state()
    view, names = view_and_names(state, "a")
    seen: list[int] = []
    start = 100 * S
    while True:
        ts, values, next_start = series_reads.page(view, start, 4_000 * S, 333)
        assert ts.shape[0] <= 333
        row_names = [names[m] for m in view.metric_ids]
        for t, column in zip(ts.tolist(), values.T.tolist(), strict=True):
            got = {n: v for n, v in zip(row_names, column, strict=True) if v == v}
            assert got == expected[t]
        seen += ts.tolist()
        if next_start is None:
            break
        start = next_start
    assert seen == sorted(t for t in expected if 100 * S <= t < 4_000 * S)


def test_page_with_a_metric_filter_skips_readings_without_it(small_delta) -> None:
    state, expected = mixed_state()
    view, names = view_and_names(state, "a")
    co2_row = np.asarray([[names[m] for m in view.metric_ids].index("co2")])
    ts, values, next_start = series_reads.page(view, 0, 10**18, 50, co2_row)
    want = sorted(t for t, v in expected.items() if "co2" in v)
    assert ts.tolist() == want[:50]
    assert values[0].tolist() == [expected[t]["co2"] for t in want[:50]]
    assert next_start == want[50]


def test_range_stats_equal_direct_computation_and_running_aggregates(small_delta) -> None:
    state, expected = mixed_state()
    view, names = view_and_names(state, "a")
    row_names = [names[m] for m in view.metric_ids]
    everything = series_reads.describe_stats(series_reads.range_stats(view, 0, 10**18), row_names)
    running = series_reads.describe_stats(state.cell_stats(view.cells), row_names)
    part = series_reads.describe_stats(series_reads.range_stats(view, 1_000 * S, 2_000 * S),
                                       row_names)
    for stats, low, high in [(everything, 0, 10**18), (running, 0, 10**18),
                             (part, 1_000 * S, 2_000 * S)]:
        assert set(stats) == {"temperature", "humidity", "co2"}
        for metric, got in stats.items():
            xs = [v[metric] for t, v in expected.items() if metric in v and low <= t < high]
            assert got["count"] == len(xs)
            assert (got["min"], got["max"]) == (min(xs), max(xs))
            assert close(got["mean"], float(np.mean(xs)))
            assert close(got["stddev"], float(np.std(xs, ddof=1)))


def test_describe_stats_single_reading_has_no_stddev() -> None:
    state = StateMachine()
    state.apply(ingest_entry(2, [{"sensor_id": "x", "timestamp": 1, "t": 5.0}]))
    view, names = view_and_names(state, "x")
    stats = series_reads.describe_stats(state.cell_stats(view.cells), [names[m] for m in view.metric_ids])
    assert stats == {"t": {"count": 1, "min": 5.0, "max": 5.0, "mean": 5.0, "stddev": None}}


def test_buckets_of_one_and_several_sensors() -> None:
    rng = random.Random(3)
    parts, flat = [], []
    for _ in range(3):
        ts = np.sort(rng.sample(range(0, 10 * 3600 * S, S), 2_000)).astype(np.int64)
        x = np.asarray([rng.gauss(20, 5) for _ in ts])
        x[::17] = np.nan  # readings without this metric
        parts.append((ts, x))
        flat += [(int(t), float(v)) for t, v in zip(ts, x, strict=True) if v == v]
    hour = 3600 * S
    rows = buckets.aggregate(iter(parts), hour, buckets.FUNCTIONS)
    by_hour: dict[int, list[float]] = {}
    for t, v in flat:
        by_hour.setdefault(t // hour * hour, []).append(v)
    assert [r["start_us"] for r in rows] == sorted(by_hour)
    for row in rows:
        xs = by_hour[row["start_us"]]
        assert row["count"] == len(xs)
        assert (row["min"], row["max"]) == (min(xs), max(xs))
        assert close(row["mean"], float(np.mean(xs)))
        assert close(row["sum"], float(np.sum(xs)))
        assert close(row["stddev"], float(np.std(xs, ddof=1)))
    single = buckets.aggregate(iter(parts[:1]), hour, ("count",))
    assert sum(r["count"] for r in single) == int((~np.isnan(parts[0][1])).sum())
    assert buckets.aggregate(iter([]), hour, ("mean",)) == []


def test_intel_lab_stats_and_hourly_means_equal_the_file(intel_lab_path) -> None:
    """In-process version of the integration equality test (shuffled, regrouped batches)."""
    readings = read_readings(intel_lab_path)
    random.Random(5).shuffle(readings)
    state = StateMachine()
    apply_all(state, [ingest_entry(2 + i, readings[i * 700:(i + 1) * 700], key=f"k{i}")
                      for i in range(len(readings) // 700 + 1)])
    rows = parse_file(intel_lab_path)
    want = per_mote_stats(rows)
    names = state.metric_names()
    for mote, metrics in want.items():
        view, _ = view_and_names(state, mote)
        row_names = [names[m] for m in view.metric_ids]
        for stats in (series_reads.describe_stats(state.cell_stats(view.cells), row_names),
                      series_reads.describe_stats(series_reads.range_stats(view, 0, 10**18),
                                                  row_names)):
            assert set(stats) == set(metrics)
            for metric, expected in metrics.items():
                for key, value in expected.items():
                    assert close(stats[metric][key], value), (mote, metric, key)
    for metric in ("temperature", "light"):
        hourly = hourly_means(rows, metric)
        for mote, expected_hours in hourly.items():
            view, _ = view_and_names(state, mote)
            row = [names[m] for m in view.metric_ids].index(metric)
            got = buckets.aggregate(
                ((ts, values[row]) for ts, values in series_reads.iter_chunks(view, 0, 10**18)),
                3_600 * S, ("count", "mean"))
            assert {r["start_us"]: r["count"] for r in got} == {
                h: c for h, (c, _) in expected_hours.items()}
            for r in got:
                assert close(r["mean"], expected_hours[r["start_us"]][1])


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_export_streams_every_reading_once(fmt, small_delta) -> None:
    state, expected = mixed_state()
    state.apply(ingest_entry(99, [{"sensor_id": "b", "timestamp": 3, "location": "roof",
                                   "pressure": 1013.5}]))
    _, views = state.views(["a", "b"])
    names = state.metric_names()
    schema = export.schema_for(export.metric_columns(views, names), fmt)
    pieces = list(export.encode(export.record_batches(views, names, 0, 10**18, schema, rows=300),
                                schema, fmt))
    assert len(pieces) > 3  # streamed, not one blob
    data = b"".join(pieces)
    table = (pa_csv.read_csv(io.BytesIO(data), convert_options=pa_csv.ConvertOptions(
        column_types={"sensor_id": "string", "timestamp": "string"}))
        if fmt == "csv" else pa_parquet.read_table(io.BytesIO(data)))
    assert table.num_rows == len(expected) + 1
    assert table.column_names == ["sensor_id", "timestamp", "location", "co2", "humidity",
                                  "pressure", "temperature"]
    rows = table.to_pylist()
    assert rows[-1]["sensor_id"] == "b" and rows[-1]["location"] == "roof"
    assert rows[-1]["pressure"] == 1013.5 and rows[-1]["temperature"] is None
    for row, t in zip(rows[:-1], sorted(expected), strict=True):
        got = {k: row[k] for k in ("co2", "humidity", "temperature") if row[k] is not None}
        assert got == expected[t]
    if fmt == "csv":
        assert rows[0]["timestamp"] == "1970-01-01T00:00:00.000000Z"


def test_sensor_directory_pages_in_id_order() -> None:
    state = StateMachine()
    ids = [f"s{n:03d}" for n in random.Random(1).sample(range(500), 120)]
    for i, sensor in enumerate(ids):
        state.apply(ingest_entry(2 + i, [{"sensor_id": sensor, "timestamp": i, "t": 1.0}]))
    directory = SensorDirectory()
    assert directory.sorted_ids(state) == sorted(ids)
    state.apply(ingest_entry(500, [{"sensor_id": "a-first", "timestamp": 1, "t": 1.0}]))
    assert directory.sorted_ids(state)[0] == "a-first"
    walked, cursor = [], None
    while True:
        page, cursor = page_after(directory.sorted_ids(state), cursor, 25)
        walked += page
        if cursor is None:
            break
    assert walked == sorted([*ids, "a-first"])
    view, names = view_and_names(state, "a-first")
    assert summary(view, names) == {
        "sensor_id": "a-first", "location": None, "readings": 1,
        "first_timestamp": "1970-01-01T00:00:01.000000Z",
        "last_timestamp": "1970-01-01T00:00:01.000000Z", "metrics": ["t"]}


def test_params_accept_rfc3339_and_epoch_seconds_and_refuse_garbage() -> None:
    assert time_param({"from": "2004-03-11T16:52:19.794238Z"}, "from", 0) == 1_079_023_939_794_238
    assert time_param({"from": "1079023939.5"}, "from", 0) == 1_079_023_939_500_000
    assert time_param({"from": "1079023939"}, "from", 0) == 1_079_023_939_000_000
    assert time_param({}, "from", 42) == 42
    assert duration_param({"every": "1h30m"}, "every") == 5_400 * S
    assert duration_param({"every": "250ms"}, "every") == 250_000
    for bad in ({"from": "yesterday"}, {"from": "-5"}, {"from": "2004-13-01T00:00:00Z"}):
        with pytest.raises(InvalidParameter) as caught:
            time_range(bad)
        assert caught.value.field == "from"
    with pytest.raises(InvalidParameter):
        time_range({"from": "20", "to": "10"})
    for bad in ("1x", "h", "0s", "1h 2m", ""):
        with pytest.raises(InvalidParameter):
            duration_param({"every": bad}, "every")


def test_latest_values_names_each_metric_by_its_id() -> None:
    state = StateMachine()
    apply_all(state, [ingest_entry(2, [{"sensor_id": "other", "timestamp": 1, "humidity": 1.0}]),
                      ingest_entry(3, [{"sensor_id": "x", "timestamp": 5, "t": 9.0},
                                       {"sensor_id": "x", "timestamp": 1, "t": 1.0, "humidity": 2.0}])])
    view, _ = view_and_names(state, "x")
    assert series_reads.latest_values(view) == (5_000_000, {"t": 9.0})


def test_iter_parts_and_combine_by_key_cover_the_same_readings(small_delta) -> None:
    state, expected = mixed_state()
    view, _ = view_and_names(state, "a")
    parts = list(series_reads.iter_parts(view, 500 * S, 4_500 * S, rows=400))
    assert len(parts) > 2 and all((np.diff(ts) > 0).all() for ts, _ in parts)
    stamps = sorted(t for ts, _ in parts for t in ts.tolist())
    assert stamps == sorted(t for t in expected if 500 * S <= t < 4_500 * S)
    # combine_by_key: the per-sensor cells of one metric merge into fleet-wide stats
    state.apply(ingest_entry(500, [{"sensor_id": "b", "timestamp": t, "temperature": t * 0.5}
                                   for t in range(50)]))
    _, views = state.views(["a", "b"])
    cells = tuple(c for v in views for c in v.cells)
    keys = np.asarray([m for v in views for m in v.metric_ids])
    fleet = series_reads.describe_stats(
        combine_by_key(state.cell_stats(cells), keys, len(state.metric_names()))[0],
        state.metric_names())
    temps = [v["temperature"] for v in expected.values() if "temperature" in v]
    temps += [t * 0.5 for t in range(50)]
    assert fleet["temperature"]["count"] == len(temps)
    assert close(fleet["temperature"]["mean"], float(np.mean(temps)))
    assert close(fleet["temperature"]["stddev"], float(np.std(temps, ddof=1)))
    assert fleet["co2"]["count"] == sum("co2" in v for v in expected.values())
