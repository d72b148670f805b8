"""The engine against a dict of sorted lists, on random workloads: late, duplicate and
sparse readings, segments sealed every few rows, blocks of a few rows."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lithair_node.machine.engine import point_reads, reads
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.sensor_view import sensor_view
from lithair_node.node.queries import series_reads
from lithair_node.node.queries.buckets import BucketPartials
from tests.machine.engine.builders import Reference, make_columns

SENSORS = ["s0", "s1", "s2", "s3"]
METRICS = ["a", "b", "c"]

readings = st.tuples(
    st.sampled_from(SENSORS),
    st.integers(0, 80),
    st.dictionaries(st.sampled_from(METRICS),
                    st.one_of(st.integers(-5000, 5000).map(lambda x: x / 100),
                              st.floats(-1e6, 1e6, allow_nan=False)), min_size=1),
    st.sampled_from([None, "north", "south"]),
)
workloads = st.lists(st.lists(readings, min_size=1, max_size=25), min_size=1, max_size=8)


def _as_rows(view, metric_ids, ts, values):
    names = view.metric_names
    return [(t, {names[m]: v for m, v in zip(metric_ids.tolist(), column, strict=True) if v == v})
            for t, column in zip(ts.tolist(), values.T.tolist(), strict=True)]


def _stats_of(xs):
    x = np.asarray(xs)
    mean = x.mean()
    return len(xs), mean, float(((x - mean) ** 2).sum()), x.min(), x.max()


def _close(actual, expected):
    count, mean, m2, low, high = (float(v) for v in actual)
    assert count == expected[0] and low == expected[3] and high == expected[4]
    assert mean == pytest.approx(expected[1], rel=1e-9, abs=1e-9)
    assert m2 == pytest.approx(expected[2], rel=1e-7, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(workloads, st.integers(1, 30), st.integers(0, 90), st.integers(0, 90), st.integers(1, 7),
       st.integers(1, 40))
def test_every_query_answers_as_the_reference(workload, seal_rows, t0, t1, limit, every):
    start, end = min(t0, t1), max(t0, t1) + 1
    with mock.patch.object(segments, "BLOCK_ROWS", 4):
        engine, reference = Engine(seal_rows=seal_rows), Reference()
        for batch in workload:
            columns = make_columns(batch)
            stored = engine.apply_batch(columns)
            kept = columns.readings if stored.keep is None else int(stored.keep.sum())
            assert kept == reference.apply(columns)
        view = engine.view()
        for sensor_id in SENSORS:
            _check_sensor(engine, view, reference, sensor_id, start, end, limit, every)


def _check_sensor(engine, view, reference, sensor_id, start, end, limit, every):
    assert point_reads.latest(engine, sensor_id) == reference.latest(sensor_id)
    sensor = engine.sensors.get(sensor_id)
    expected = reference.between(sensor_id, start, end)
    if sensor < 0:
        assert not expected
        return
    assert _as_rows(view, *reads.readings(view, sensor, start, end)) == expected
    pages, cursor = [], start
    while cursor is not None:
        metric_ids, ts, values, cursor = reads.page(view, sensor, cursor, end, limit)
        assert ts.shape[0] <= limit
        pages.extend(_as_rows(view, metric_ids, ts, values))
    assert pages == expected
    # Range statistics and buckets as the queries compute them over the engine's reads.
    picture = sensor_view(engine, view, sensor_id)
    metric_ids = picture.metric_array()
    partials = series_reads.range_stats(picture, start, end)
    everything = reference.between(sensor_id, 0, 2**62)
    names, running = point_reads.running_stats(engine, sensor_id)
    for column, metric in enumerate(metric_ids.tolist()):
        name = view.metric_names[metric]
        in_range = [v[name] for _, v in expected if name in v]
        if in_range:
            _close(partials[:, column], _stats_of(in_range))
        else:
            assert partials[0, column] == 0
        _close(running[:, names.index(name)], _stats_of([v[name] for _, v in everything if name in v]))
        folded = BucketPartials()
        for ts, values in series_reads.iter_parts(picture, start, end):
            folded.add(ts, values[column], every)
        bucket_numbers, bucket_partials, sums = folded.combine()
        bucket_starts = bucket_numbers * every
        by_bucket: dict[int, list[float]] = {}
        for t, v in expected:
            if name in v:
                by_bucket.setdefault(t // every * every, []).append(v[name])
        assert bucket_starts.tolist() == sorted(by_bucket)
        for column_b, bucket in enumerate(bucket_starts.tolist()):
            _close(bucket_partials[:, column_b], _stats_of(by_bucket[bucket]))
            assert sums[column_b] == pytest.approx(sum(by_bucket[bucket]), rel=1e-9, abs=1e-9)
