"""The reader: ranges equal the input, across day boundaries and files, with pushdown."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lithair_node.node.coldtier.reader import ColdReader, range_filter
from lithair_node.node.coldtier.store import ColdStore, open_store
from lithair_node.node.coldtier.writer import US_PER_DAY, ColdBatch, write
from tests.node.coldtier.conftest import DAY0, make_batch


def expected(batch: ColdBatch, sensor: int, start: int, end: int,
             metrics: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The input's rows of `sensor` in [start, end), in ts order: the reader's answer."""
    mine = np.flatnonzero((batch.sensor == sensor) & (batch.ts >= start) & (batch.ts < end))
    mine = mine[np.argsort(batch.ts[mine])]
    return batch.ts[mine], np.array([batch.metrics[m][mine] for m in metrics]).reshape(len(metrics), -1)


def tiered(tmp_path: Path, batch: ColdBatch, parts: int = 3) -> tuple[ColdStore, ColdReader]:
    """`batch` written as `parts` writes (as successive segments would be)."""
    store = open_store(str(tmp_path))
    files = []
    for i, rows in enumerate(np.array_split(np.arange(batch.rows), parts)):
        files += write(store, ColdBatch(batch.sensor[rows], batch.ts[rows], batch.sensor_names,
                                        batch.locations, {m: v[rows] for m, v in batch.metrics.items()}),
                       i, row_group_rows=512)
    return store, ColdReader(store, files)


BATCH = make_batch(6_000, days=3.0, seed=3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sensor=st.integers(0, 6), a=st.integers(-US_PER_DAY, 4 * US_PER_DAY),
       length=st.integers(0, 2 * US_PER_DAY))
def test_range_reads_equal_the_input(tmp_path: Path, sensor: int, a: int, length: int) -> None:
    reader = _reader(tmp_path)
    start, end = DAY0 + a, DAY0 + a + length
    got = reader.readings(f"mote-{sensor:02d}", start, end, metrics=["temperature", "light"])
    ts, values = expected(BATCH, sensor, start, end, ["temperature", "light"])
    assert got.metric_names == ("temperature", "light")
    np.testing.assert_array_equal(got.ts, ts)
    np.testing.assert_array_equal(got.values, values)  # NaN where absent, on both sides


_READERS: dict[Path, ColdReader] = {}


def _reader(tmp_path: Path) -> ColdReader:
    """One tier for all of hypothesis' examples (the tmp_path fixture is per test)."""
    if tmp_path not in _READERS:
        _READERS[tmp_path] = tiered(tmp_path, BATCH)[1]
    return _READERS[tmp_path]


def test_a_range_across_midnight_reads_both_days_files(tmp_path: Path) -> None:
    midnight = DAY0 + US_PER_DAY
    sensor = np.array([0, 0, 0, 0, 1])
    ts = np.array([midnight - 2, midnight - 1, midnight, midnight + 1, midnight])
    batch = ColdBatch(sensor, ts, ["a", "b"], ["x", "y"], {"t": np.array([1.0, 2, 3, 4, 5])})
    store = open_store(str(tmp_path))
    files = write(store, batch, 1)
    assert [f.day for f in files] == ["2004-03-11", "2004-03-12"]
    reader = ColdReader(store, files)
    got = reader.readings("a", midnight - 1, midnight + 1)
    assert got.ts.tolist() == [midnight - 1, midnight] and got.values.tolist() == [[2.0, 3.0]]
    assert reader.files_between(midnight - 1, midnight) == files[:1]  # end is exclusive
    assert reader.files_between(midnight, midnight + 5) == files[1:]
    assert reader.oldest_ts() == midnight - 2


def test_default_metrics_are_those_with_values(tmp_path: Path) -> None:
    sensor = np.array([0, 0, 1])
    batch = ColdBatch(sensor, DAY0 + np.arange(3), ["a", "b"], [None, None],
                      {"t": np.array([1.0, np.nan, 3.0]), "h": np.array([np.nan, np.nan, 9.0])})
    store = open_store(str(tmp_path))
    reader = ColdReader(store, write(store, batch, 1))
    got = reader.readings("a", DAY0, DAY0 + 10)
    assert got.metric_names == ("t",) and got.rows == 2  # "h": no value of "a" in the range
    np.testing.assert_array_equal(got.values, [[1.0, np.nan]])
    asked = reader.readings("a", DAY0, DAY0 + 10, metrics=["h", "t", "never"])
    assert asked.metric_names == ("h", "t", "never")
    np.testing.assert_array_equal(asked.values, [[np.nan, np.nan], [1.0, np.nan], [np.nan, np.nan]])
    empty = reader.readings("nobody", DAY0, DAY0 + 10, metrics=["t"])
    assert empty.rows == 0 and empty.values.shape == (1, 0)


def test_sensor_sets_and_locations(tmp_path: Path) -> None:
    _, reader = tiered(tmp_path, BATCH)
    start, end = DAY0 + US_PER_DAY // 2, DAY0 + 2 * US_PER_DAY
    by_location = reader.readings_of(start, end, location="room-1", metrics=["temperature"])
    room_1 = [i for i, loc in enumerate(BATCH.locations) if loc == "room-1"]
    assert sorted(by_location) == [BATCH.sensor_names[i] for i in room_1]
    for i in room_1:
        ts, values = expected(BATCH, i, start, end, ["temperature"])
        np.testing.assert_array_equal(by_location[BATCH.sensor_names[i]].ts, ts)
        np.testing.assert_array_equal(by_location[BATCH.sensor_names[i]].values, values)
    chosen = reader.readings_of(start, end, sensors=["mote-00", "mote-05", "absent"])
    assert sorted(chosen) == ["mote-00", "mote-05"]
    assert reader.readings_of(start, end, sensors=[]) == {}
    everyone = reader.readings_of(DAY0, DAY0 + 4 * US_PER_DAY)
    assert sum(r.rows for r in everyone.values()) == BATCH.rows


def test_row_groups_of_other_sensors_and_times_are_skipped(tmp_path: Path) -> None:
    _, reader = tiered(tmp_path, make_batch(20_000, sensors=20, days=2.0), parts=1)
    dataset = reader.dataset(reader.files, ["temperature"])
    fragments = list(dataset.get_fragments())
    total = sum(f.metadata.num_row_groups for f in fragments)
    def kept(expr: object) -> int:
        return sum(len(p.row_groups) for f in fragments for p in f.split_by_row_group(expr))
    one_sensor = kept(range_filter(DAY0, DAY0 + 2 * US_PER_DAY, ["mote-07"]))
    assert total >= 38 and 2 <= one_sensor <= 6  # its rows of two days: 1-2 groups a day
    assert kept(range_filter(DAY0, DAY0 + US_PER_DAY // 4, None)) < total // 2


@st.composite
def batches(draw: st.DrawFn) -> ColdBatch:
    """Any small batch: odd sensor names (quotes, non-ASCII), timestamps on few days,
    (sensor, ts) unique, values sparse."""
    names = draw(st.lists(st.text(min_size=1, max_size=6).filter(lambda s: "\0" not in s),
                          min_size=1, max_size=5, unique=True))
    keys = draw(st.lists(st.tuples(st.integers(0, len(names) - 1), st.integers(0, 3 * US_PER_DAY)),
                         min_size=1, max_size=60, unique=True))
    values = draw(st.lists(st.one_of(st.none(), st.floats(-1e300, 1e300)), min_size=len(keys),
                           max_size=len(keys)))
    sensor = np.array([s for s, _ in keys], dtype=np.int64)
    ts = DAY0 + np.array([t for _, t in keys], dtype=np.int64)
    column = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    locations = draw(st.lists(st.one_of(st.none(), st.sampled_from(["x", "y"])),
                              min_size=len(names), max_size=len(names)))
    return ColdBatch(sensor, ts, names, locations, {"v": column})


@settings(max_examples=60, deadline=None)
@given(batch=batches())
def test_any_batch_reads_back_whole(batch: ColdBatch) -> None:
    with tempfile.TemporaryDirectory() as root:
        store = open_store(root)
        reader = ColdReader(store, write(store, batch, 1))
        got = reader.readings_of(DAY0, DAY0 + 4 * US_PER_DAY, metrics=["v"])
        for number, name in enumerate(batch.sensor_names):
            ts, values = expected(batch, number, DAY0, DAY0 + 4 * US_PER_DAY, ["v"])
            if ts.shape[0] == 0:
                assert name not in got
                continue
            np.testing.assert_array_equal(got[name].ts, ts)
            np.testing.assert_array_equal(got[name].values, values)
