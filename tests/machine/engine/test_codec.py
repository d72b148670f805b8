import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lithair_node.machine.engine import codec
from lithair_node.machine.engine.sealing import DEFAULT_BUILDER


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool((a.view(np.uint64) == b.view(np.uint64)).all())


def test_regular_timestamps_compress_to_almost_nothing():
    ts = 1_700_000_000_000_000 + np.arange(4096, dtype=np.int64) * 1_000_000
    frame = codec.encode_timestamps(ts)
    assert len(frame) < 64
    assert (codec.decode_timestamps(frame, ts.shape[0]) == ts).all()


def test_few_decimals_are_scaled_and_exact():
    values = np.round(21 + np.cumsum(np.full(1000, 0.01)), 3)
    scale, frame = codec.encode_floats(values)
    assert scale in (2, 3)
    assert len(frame) < values.nbytes / 4
    assert _same_bits(codec.decode_floats(scale, frame, values.shape[0]), values)


def test_negative_zero_and_huge_values_stay_raw_and_exact():
    values = np.array([-0.0, 1.5, 1e300, 5e-324])
    scale, frame = codec.encode_floats(values)
    assert scale == codec.RAW
    assert _same_bits(codec.decode_floats(scale, frame, 4), values)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=200))
def test_any_finite_floats_round_trip_bit_for_bit(raw):
    values = np.asarray(raw, dtype=np.float64)
    scale, frame = codec.encode_floats(values)
    assert _same_bits(codec.decode_floats(scale, frame, values.shape[0]), values)


@given(st.lists(st.integers(min_value=-(2**62), max_value=2**62), min_size=1, max_size=200))
def test_any_timestamps_round_trip(raw):
    ts = np.asarray(raw, dtype=np.int64)
    assert (codec.decode_timestamps(codec.encode_timestamps(ts), ts.shape[0]) == ts).all()


def test_a_frame_holds_only_its_own_bytes():
    # python-zstandard allocates compressBound(input) for its output and keeps that block;
    # a sealed segment holds its frames for its whole life, so each must be right-sized.
    import tracemalloc

    ts = 1_700_000_000_000_000 + np.arange(4096, dtype=np.int64) * 1_000_000
    values = np.round(20 + np.sin(np.arange(4096) / 50), 2)
    # tracemalloc counts every thread: let the segment builder finish what earlier tests of
    # this process gave it (its jobs run in order, so a no-op job done means all are done).
    DEFAULT_BUILDER.submit(lambda: None).result()  # type: ignore[arg-type, return-value]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        frames = [codec.encode_timestamps(ts) for _ in range(50)]
        frames += [codec.encode_floats(values)[1] for _ in range(50)]
        frames.append(codec.compress(bytes(32_768)))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < sum(len(f) for f in frames) + 200 * len(frames)  # 32 KiB a frame before
