"""The hot buffer's per-sensor index (hot_index.py) against the compare over the whole buffer
it replaces: rows, triples, counts and first timestamps, with reads between writes (pieces
built and merged), late readings, sealing and restore."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lithair_node.machine.engine import reads, snapshot
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.hot import HotView
from tests.machine.engine.builders import make_columns

SENSORS = [f"s{i}" for i in range(6)]

readings = st.tuples(
    st.sampled_from(SENSORS),
    st.integers(0, 200),  # narrow: many late readings and repeats
    st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(-99, 99).map(float), min_size=1),
    st.sampled_from([None, "north"]),
)
batches = st.lists(st.lists(readings, min_size=1, max_size=30), min_size=1, max_size=12)


def _check(hot: HotView, sensors: int) -> None:
    """Everything the index answers equals the compare over the view's rows."""
    for sensor in range(sensors):
        expected = np.flatnonzero(hot.sensor == sensor)
        got = hot.rows_of(sensor)
        assert got.dtype == np.int64 and np.array_equal(got, expected)
    everyone = np.arange(sensors)[::-1]
    rows, of = hot.rows_of_many(everyone)
    assert np.array_equal(rows, np.concatenate([hot.rows_of(s) for s in range(sensors)]))
    assert np.array_equal(of, hot.sensor[rows])
    # Triples of every row, as the searchsorted over the triples' rows found them.
    all_rows = np.arange(hot.sensor.shape[0])[::-1]
    wanted = np.arange(3)
    expected = np.full((3, all_rows.shape[0]), np.nan)
    for col, row in enumerate(all_rows.tolist()):
        for t in np.flatnonzero(hot.row == row).tolist():
            expected[hot.metric[t], col] = hot.value[t]
    assert np.array_equal(hot.dense(all_rows, wanted, 3), expected, equal_nan=True)


@settings(max_examples=120, deadline=None)
@given(batches, st.integers(1, 60), st.lists(st.booleans(), min_size=12, max_size=12))
def test_index_answers_as_the_compare(workload, seal_rows, read_after):
    engine = Engine(seal_rows=seal_rows)
    for columns, read in zip(map(make_columns, workload), read_after, strict=False):
        engine.apply_batch(columns)
        if read:  # a read between writes: the index grows a piece, maybe merges
            _check(engine.view().hot, len(engine.sensors))
    view = engine.view()
    _check(view.hot, len(engine.sensors))
    restored = snapshot.load(snapshot.dump_state(engine), snapshot.new_segments(engine, 0))
    _check(restored.view().hot, len(restored.sensors))
    for sensor in range(len(engine.sensors)):
        assert reads.count(restored.view(), sensor) == reads.count(view, sensor)
        assert reads.first_ts(restored.view(), sensor) == reads.first_ts(view, sensor)


def test_an_older_view_ignores_rows_a_newer_reader_indexed():
    engine = Engine(seal_rows=10_000)
    engine.apply_batch(make_columns([("s0", 10, {"a": 1.0}, None), ("s1", 10, {"a": 2.0}, None)]))
    old = engine.view()
    assert old.hot.rows_of(0).tolist() == [0]  # the index now covers rows [0, 2)
    engine.apply_batch(make_columns([("s0", 5, {"a": 3.0}, None), ("s0", 20, {"a": 4.0}, None),
                                     ("s1", 30, {"b": 5.0}, None)]))
    new = engine.view()
    assert new.hot.rows_of(0).tolist() == [0, 2, 3]  # late one (ts 5) included, arrival order
    assert old.hot.index is new.hot.index  # one buffer, one index, now past the old view
    assert old.hot.rows_of(0).tolist() == [0]
    assert old.hot.rows_of_many(np.array([1, 0]))[0].tolist() == [0, 1]
    assert reads.count(old, 0) == 1 and reads.count(new, 0) == 3
    assert reads.first_ts(old, 0) == 10 and reads.first_ts(new, 0) == 5
    _check(old.hot, 2)
    _check(new.hot, 2)


def test_sealing_starts_a_new_index_and_old_views_keep_theirs():
    engine = Engine(seal_rows=4)
    engine.apply_batch(make_columns([("s0", t, {"a": float(t)}, None) for t in range(3)]))
    before = engine.view()
    assert before.hot.rows_of(0).tolist() == [0, 1, 2]
    engine.apply_batch(make_columns([("s1", 1, {"a": 1.0}, None), ("s0", 9, {"a": 9.0}, None)]))
    after = engine.view()  # sealed: 5 rows went into a segment
    assert after.hot.sensor.shape[0] == 0 and after.hot.index is not before.hot.index
    assert after.hot.rows_of(0).shape[0] == 0
    assert before.hot.rows_of(0).tolist() == [0, 1, 2]
    engine.apply_batch(make_columns([("s1", 0, {"b": 2.0}, None)]))  # late, after the seal
    assert engine.view().hot.rows_of(1).tolist() == [0]
    assert reads.count(engine.view(), 1) == 2 and reads.first_ts(engine.view(), 1) == 0


def test_many_small_reads_keep_few_pieces():
    engine = Engine(seal_rows=1 << 20)
    for t in range(256):
        engine.apply_batch(make_columns([(f"s{t % 7}", t, {"a": 1.0}, None)]))
        engine.view().hot.rows_of(0)
    pieces = engine.view().hot.index.pieces(engine.view().hot.sensor, engine.view().hot.row)
    assert len(pieces) <= 9  # a binary counter over 256 rows: at most log2(256) + 1
    assert [p.start for p in pieces[1:]] == [p.end for p in pieces[:-1]]
    _check(engine.view().hot, 7)
