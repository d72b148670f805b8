import numpy as np

from lithair_node.machine.engine import reads, snapshot
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.engine import Engine
from tests.machine.engine.feeds import engine_fed, mixed_workload


def _workload():
    return mixed_workload(30, 4, 200, (7, 3))


def _fed(batches, seal_rows=900) -> Engine:
    return engine_fed(batches, seal_rows)


def _files(engine: Engine) -> tuple[bytes, dict[int, bytes]]:
    return snapshot.dump_state(engine), snapshot.new_segments(engine, 0)


def test_two_engines_fed_the_same_batches_write_the_same_snapshot_bytes():
    a, b = _fed(_workload()), _fed(_workload())
    assert len(a.segments) >= 4
    assert _files(a) == _files(b)
    assert (a.total_readings, a.readings_hash) == (b.total_readings, b.readings_hash)


def test_segment_blobs_decode_to_the_same_segment():
    engine = _fed(_workload())
    for sealed in engine.segments:
        again = segments.decode(segments.encode(sealed))
        assert segments.encode(again) == segments.encode(sealed)
        for sensor in sealed.sensors[:5].tolist():
            a, b, _, _ = sealed.span(sensor)
            assert (again.ts_between(a, b) == sealed.ts_between(a, b)).all()


def test_restore_mid_segment_then_continue_gives_the_same_state_as_never_stopping():
    batches = _workload()
    whole = _fed(batches)
    half = _fed(batches[:17])
    assert half.hot.rows > 0  # the snapshot is taken with an unsealed hot buffer
    state, blobs = _files(half)
    restored = snapshot.load(state, blobs)
    assert _files(restored) == (state, blobs)
    for columns in batches[17:]:
        restored.apply_batch(columns)
    assert _files(restored) == _files(whole)
    for sensor in range(0, 45, 7):
        assert all((x == y).all() if x.dtype.kind == "i" else np.array_equal(x, y, equal_nan=True)
                   for x, y in zip(reads.readings(restored.view(), sensor, 0, 2**62),
                                   reads.readings(whole.view(), sensor, 0, 2**62), strict=True))


def test_an_incremental_snapshot_writes_only_the_segments_sealed_since():
    batches = _workload()
    engine = _fed(batches[:15])
    first = len(engine.segments)
    for columns in batches[15:]:
        engine.apply_batch(columns)
    assert sorted(snapshot.new_segments(engine, first)) == list(range(first, len(engine.segments)))
    previous_blobs = snapshot.new_segments(_fed(batches[:15]), 0)
    restored = snapshot.load(snapshot.dump_state(engine),
                             {**previous_blobs, **snapshot.new_segments(engine, first)})
    assert _files(restored) == _files(engine)
