"""Leveled compaction: a merge is exactly a seal of the rows it holds, compaction changes no
answer and no digest, and every node (restored or not) ends up with the same segments."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lithair_node.machine.engine import codec, compaction, reads, snapshot
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.engine import Engine
from tests.machine.engine.feeds import START_US, engine_fed, mixed_workload


@pytest.fixture(autouse=True)
def compaction_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compaction is off by default (compaction.ENABLED); these tests are about it."""
    monkeypatch.setattr(compaction, "ENABLED", True)


def _rows(rng: np.random.Generator, n: int, metrics: int, density: float, big_ts: bool):
    sensor = rng.integers(0, 50, n).astype(np.int32)
    ts = rng.permutation(n * 3)[:n].astype(np.int64) * (2**45 if big_ts else 1)
    present = rng.random((metrics, n)) < density
    metric_row, row = np.nonzero(present)
    values = np.round(rng.random(metric_row.shape[0]) * 100, int(rng.integers(0, 4)))
    values[:: int(rng.integers(2, 9))] = rng.random()  # raw blocks beside scaled ones
    shuffle = rng.permutation(metric_row.shape[0])
    return sensor, ts, row[shuffle], (2 * metric_row + 1)[shuffle].astype(np.int32), values[shuffle]


@pytest.mark.parametrize("seed", range(12))
def test_a_merge_is_byte_for_byte_the_seal_of_its_rows(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12_000))
    sensor, ts, row, metric, value = _rows(rng, n, int(rng.integers(1, 7)),
                                           [1.0, 0.5, 0.01][seed % 3], big_ts=seed % 4 == 3)
    whole = segments.seal(0, sensor, ts, row, metric, value)
    cuts = [0, *np.sort(rng.integers(0, n, int(rng.integers(0, 6)))).tolist(), n]
    parts = []
    for a, b in itertools.pairwise(cuts):
        inside = (row >= a) & (row < b)
        if b > a:
            parts.append(segments.seal(len(parts), sensor[a:b], ts[a:b], row[inside] - a,
                                       metric[inside], value[inside]))
    assert segments.encode(compaction.merge(parts, 0)) == segments.encode(whole)


def test_the_decimal_scale_is_the_one_every_try_finds():
    def reference(values, hint):
        if hint >= 0 and codec._exact_at(values, hint):
            return hint
        for decimals in range(codec.MAX_DECIMALS + 1):
            exact = codec._exact_at(values, decimals)
            if exact is None:
                return codec.RAW
            if exact:
                return decimals
        return codec.RAW

    rng = np.random.default_rng(4)
    for trial in range(300):
        values = np.round(rng.normal(0, 10.0 ** rng.integers(0, 12), int(rng.integers(1, 300))),
                          int(rng.integers(0, 8)))
        if trial % 5 == 0:
            values[rng.integers(0, values.shape[0])] = rng.random()  # one raw value late on
        if trial % 7 == 0:
            values[-1] = 1e17  # too large to scale, after a sample that is not
        hint = int(rng.integers(-1, 4))
        assert codec.decimal_scale(values, hint) == reference(values, hint)


def _workload():
    return mixed_workload(84, 5, 400, (11, 5))  # 21 cuts: a merge swapped FAN_IN cuts on


def _fed(batches, seal_rows=500) -> Engine:
    return engine_fed(batches, seal_rows)


def test_compaction_changes_no_answer_and_no_digest(monkeypatch):
    batches = _workload()
    compacted = _fed(batches)
    monkeypatch.setattr(compaction, "FAN_IN", 10**6)
    plain = _fed(batches)
    assert len(compacted.segments) < len(plain.segments)
    assert [s.number for s in compacted.segments] == list(range(len(compacted.segments)))
    assert compacted.readings_hash == plain.readings_hash
    assert compacted.total_readings == plain.total_readings
    for sensor in range(len(plain.sensors.names)):
        for start, end in ((0, 2**62), (START_US + 20_000_000, START_US + 90_000_000)):
            got = reads.readings(compacted.view(), sensor, start, end)
            want = reads.readings(plain.view(), sensor, start, end)
            for x, y in zip(got, want, strict=True):
                assert np.array_equal(x, y, equal_nan=True)
        assert reads.count(compacted.view(), sensor) == reads.count(plain.view(), sensor)
        assert reads.first_ts(compacted.view(), sensor) == reads.first_ts(plain.view(), sensor)


def test_compaction_merges_at_most_once_a_seal_and_stops_at_its_level():
    engine = _fed(_workload())
    levels = [compaction.level(s.rows, engine.seal_rows) for s in engine.segments]
    assert levels.count(compaction.MAX_LEVEL) >= 1
    assert max(s.rows for s in engine.segments) < 2 * compaction.FAN_IN * engine.seal_rows
    fewer = compaction.after_seal(engine.segments, engine.seal_rows)
    assert len(fewer) >= len(engine.segments) - compaction.FAN_IN + 1


def test_restored_nodes_compact_the_same_segments_as_the_one_that_never_stopped():
    batches = _workload()
    whole = _fed(batches)
    for stop in (7, 23, 41):
        engine = _fed(batches[:stop])
        restored = snapshot.load(snapshot.dump_state(engine), snapshot.new_segments(engine, 0))
        for columns in batches[stop:]:
            restored.apply_batch(columns)
        assert snapshot.new_segments(restored, 0) == snapshot.new_segments(whole, 0)
        assert snapshot.dump_state(restored) == snapshot.dump_state(whole)


@pytest.mark.parametrize("density", [1.0, 0.5, 0.02])
def test_a_few_rows_decode_as_the_slice_of_their_whole_blocks(density):
    rng = np.random.default_rng(int(density * 100))
    for scaled in (False, True):
        n = 11_000
        sensor, ts = rng.integers(0, 30, n).astype(np.int32), np.arange(n, dtype=np.int64) * 7 + 10**15
        present = rng.random((3, n)) < density
        metric_row, row = np.nonzero(present)
        values = rng.random(metric_row.shape[0]) * 100
        segment = segments.seal(0, sensor, ts, row, metric_row.astype(np.int32),
                                np.round(values, 2) if scaled else values)
        whole = {m: np.concatenate([segments.dense_block(segment, m, k) for k in range(3)])
                 for m in (-1, 0, 1, 2)}
        for _ in range(60):
            a = int(rng.integers(0, n))
            b = int(rng.integers(a, min(n, a + segments.FEW_ROWS) + 1))
            assert np.array_equal(segment.ts_between(a, b), whole[-1][a:b])
            for m in (0, 1, 2):
                got = segment.values_between(m, a, b)
                assert got.view(np.uint64).tolist() == whole[m][a:b].view(np.uint64).tolist()


def test_rows_at_takes_runs_in_any_order():
    rng = np.random.default_rng(8)
    n = 20_000
    sensor = np.sort(rng.integers(0, 40, n)).astype(np.int32)
    ts = np.arange(n, dtype=np.int64)
    segment = segments.seal(0, sensor, ts, np.arange(n), np.zeros(n, dtype=np.int32), rng.random(n))
    whole = np.concatenate([segments.dense_block(segment, 0, k) for k in range(5)])
    for _ in range(20):  # runs of sensors asked out of number order (metric_parts does)
        picked = rng.permutation(segment.sensors.shape[0])[:6]
        rows = np.concatenate([np.arange(segment.starts[i], segment.starts[i + 1]) for i in picked])
        assert np.array_equal(segments.rows_at(segment, 0, rows), whole[rows])
        assert np.array_equal(segments.rows_at(segment, -1, rows), ts[rows])
