"""The multi-sensor reads (metric_reads.py, sensor_views) give what the per-sensor reads
give, bit for bit: time buckets over a location, views of many sensors."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.metric_reads import metric_parts
from lithair_node.machine.engine.sensor_view import sensor_view, sensor_views
from lithair_node.node.queries import buckets, series_reads
from tests.machine.engine.builders import make_columns

SENSORS = [f"s{i}" for i in range(8)]
METRICS = ["a", "b", "c"]

readings = st.tuples(
    st.sampled_from(SENSORS),
    st.integers(0, 120),
    st.dictionaries(st.sampled_from(METRICS),
                    st.one_of(st.integers(-5000, 5000).map(lambda x: x / 100),
                              st.floats(-1e300, 1e300, allow_nan=False)), min_size=1),
    st.sampled_from([None, "north", "south"]),
)
workloads = st.lists(st.lists(readings, min_size=1, max_size=30), min_size=1, max_size=10)


def _per_sensor(views, metric, start, end, every):
    """What GET /aggregate computed before metric_reads: every view's parts in turn."""
    return buckets.aggregate(((ts, x[v.metric_ids.index(metric)]) for v in views
                              for ts, x in series_reads.iter_parts(v, start, end)),
                             every, buckets.FUNCTIONS)


@settings(max_examples=150, deadline=None)
@given(workloads, st.integers(1, 40), st.integers(0, 130), st.integers(1, 130), st.integers(1, 50),
       st.permutations(SENSORS), st.integers(1, 8), st.sampled_from(METRICS))
def test_buckets_of_many_sensors_are_bit_identical(workload, seal_rows, t0, span, every, order,
                                                   how_many, metric_name):
    engine = Engine(seal_rows=seal_rows)
    for batch in workload:
        engine.apply_batch(make_columns(batch))
    picture = engine.view()
    if metric_name not in engine.metrics.names:
        return
    metric = engine.metrics.get(metric_name)
    views = [v for v in (sensor_view(engine, picture, s) for s in order[:how_many])
             if v is not None and metric in v.metric_ids]
    start, end = t0, t0 + span
    got = buckets.aggregate_metric(views, metric, start, end, every, buckets.FUNCTIONS)
    assert repr(got) == repr(_per_sensor(views, metric, start, end, every))  # NaN-safe equality
    for v in views:  # one sensor alone takes the sliced path
        alone = buckets.aggregate_metric([v], metric, start, end, every, buckets.FUNCTIONS)
        assert repr(alone) == repr(_per_sensor([v], metric, start, end, every))


def test_parts_come_sensor_after_sensor_in_the_order_asked():
    engine = Engine(seal_rows=3)
    engine.apply_batch(make_columns([("s0", t, {"a": float(t)}, None) for t in (1, 2)]
                                    + [("s1", t, {"a": 10.0 + t}, None) for t in (1, 2)]))
    engine.apply_batch(make_columns([("s1", 0, {"a": 10.0}, None), ("s0", 3, {"a": 3.0}, None)]))
    view = engine.view()  # one segment (4 rows), two hot rows
    parts = metric_parts(view, np.array([1, 0]), 0, 0, 100)
    assert parts.ts.tolist() == [1, 2, 0, 1, 2, 3]
    assert parts.values.tolist() == [11.0, 12.0, 10.0, 1.0, 2.0, 3.0]
    runs = np.flatnonzero(np.diff(parts.part, prepend=-1)).tolist()
    assert runs == [0, 2, 3, 5]  # s1: segment, hot; s0: segment, hot
    assert np.all(np.diff(parts.part) >= 0)


def test_a_sensor_named_twice_is_read_twice():
    engine = Engine(seal_rows=100)
    engine.apply_batch(make_columns([("s0", t, {"a": float(t)}, None) for t in range(4)]))
    v = sensor_view(engine, engine.view(), "s0")
    got = buckets.aggregate_metric([v, v], 0, 0, 10, 2, ("count", "sum"))
    assert [(b["count"], b["sum"]) for b in got] == [(4, 2.0), (4, 10.0)]


@settings(max_examples=80, deadline=None)
@given(workloads, st.integers(1, 40), st.lists(st.sampled_from([*SENSORS, "nobody"]), max_size=12))
def test_sensor_views_are_the_views_of_each_sensor(workload, seal_rows, asked):
    engine = Engine(seal_rows=seal_rows)
    for batch in workload:
        engine.apply_batch(make_columns(batch))
    picture = engine.view()
    asked = asked * 2  # past the scalar path's threshold too
    expected = [v for v in (sensor_view(engine, picture, s) for s in asked) if v is not None]
    assert sensor_views(engine, picture, asked) == expected
    assert sensor_views(engine, picture, asked[:3]) == expected[: len(
        [s for s in asked[:3] if engine.sensors.get(s) >= 0])]
