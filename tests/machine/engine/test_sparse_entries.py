"""Sparse log entries: the codec round-trips, old dense entries still decode, and apply ends
in the same state whichever form carried a batch."""

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lithair_node.machine.commands import (
    VALUE_DTYPE,
    decode_columns,
    decode_values,
    encode_columns,
    encode_ingest,
    encode_values,
    fingerprint_of,
    make_encoded_batch,
)
from lithair_node.machine.entries import LogEntry
from lithair_node.machine.state import StateMachine
from tests.machine.engine.builders import make_columns

_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def _matrices(draw):
    m, n = draw(st.integers(0, 6)), draw(st.integers(0, 40))
    values = draw(hnp.arrays(np.float64, (m, n), elements=_finite))
    absent = draw(hnp.arrays(np.bool_, (m, n), elements=st.booleans() if draw(st.booleans())
                             else st.sampled_from([True, True, True, False])))
    values[absent] = np.nan
    return values


@settings(max_examples=200, deadline=None)
@given(_matrices())
def test_values_round_trip_bit_for_bit_in_whichever_form_is_chosen(values):
    raw = encode_values(values)
    back = decode_values(msgpack.unpackb(msgpack.packb(raw, use_bin_type=True)), *values.shape)
    assert back.shape == values.shape
    assert np.array_equal(np.isnan(back), np.isnan(values))
    present = ~np.isnan(values)
    assert back[present].tobytes() == values[present].tobytes()  # -0.0 stays -0.0
    k = int(present.sum())
    if isinstance(raw, list):  # sparse only when it is the smaller: 12 bytes a value
        assert sum(map(len, raw)) == 12 * k < 8 * values.size
    else:
        assert len(raw) == 8 * values.size


def _attack_batch(names: int = 64, readings: int = 400):
    """One sensor, each reading carrying one of `names` metric names."""
    return make_columns([("big", 1_000 + i, {f"m{i % names:03d}": float(i)}, None)
                         for i in range(readings)])


def test_a_sparse_batch_costs_its_values_and_a_full_one_stays_dense():
    sparse = _attack_batch()
    payload = encode_columns(sparse)
    dense_bytes = 8 * sparse.values.size  # what the matrix alone cost before
    assert dense_bytes == 8 * 64 * 400
    assert len(payload) < 400 * (8 + 12) + 64 * 8 + 100  # ts + one value each + names
    assert isinstance(msgpack.unpackb(payload)[5], list)
    full = make_columns([("s", 1_000 + i, {"a": 1.0, "b": 2.0}, None) for i in range(50)])
    assert type(msgpack.unpackb(encode_columns(full))[5]) is bytes


def _old_entry(columns, key=None) -> bytes:
    """An ingest entry exactly as the previous version wrote it: dense values, 3-element
    batch items, no limits."""
    fields = [columns.sensors, columns.counts.astype("<u4").tobytes(), columns.locations,
              columns.ts.astype("<i8").tobytes(), columns.metrics,
              columns.values.astype(VALUE_DTYPE).tobytes(), columns.in_batch_duplicates]
    fingerprint = fingerprint_of(msgpack.packb(fields, use_bin_type=True))
    return msgpack.packb([1, "ingest", [[key, fingerprint, fields]]], use_bin_type=True)


def test_apply_gives_the_same_state_whichever_form_carried_the_batches():
    # Without keys: the key table holds each batch's fingerprint, a hash of the bytes carried
    # (the encoder picks the form from the content, so a retry carries the same bytes).
    batches = [_attack_batch(), make_columns([("big", 5, {"m001": 1.5, "x": 2.0}, "lab"),
                                              ("small", 7, {"x": 3.0}, None)])]
    old, new = StateMachine(), StateMachine()
    for index, columns in enumerate(batches, start=1):
        a = old.apply(LogEntry(index, 1, _old_entry(columns)))
        b = new.apply(LogEntry(index, 1, encode_ingest(
            [make_encoded_batch(columns, None, columns.readings)])))
        assert a.error is None and b.error is None
        assert [o.status for o in a.batches] == [o.status for o in b.batches] == ["ok"]
        assert a.batches[0].result.accepted == b.batches[0].result.accepted == columns.readings
    assert old.digest() == new.digest()
    assert old.stats() == new.stats()
    va, vb = old.read(["big"], running=True), new.read(["big"], running=True)
    assert va.metric_names == vb.metric_names
    np.testing.assert_array_equal(va.running[0], vb.running[0])


def test_decode_of_a_sparse_batch_gives_the_dense_columns():
    columns = _attack_batch(names=8, readings=64)
    got = decode_columns(msgpack.unpackb(encode_columns(columns)))
    assert got.sensors == columns.sensors and got.metrics == columns.metrics
    assert np.array_equal(got.values, columns.values, equal_nan=True)


_TS = np.asarray([1, 2], dtype="<i8").tobytes()


def _sparse_batch(positions, values, dtype="<u4"):
    return [["a"], np.asarray([2], dtype="<u4").tobytes(), [None], _TS, ["x", "y"],
            [np.asarray(positions, dtype=dtype).tobytes(), np.asarray(values, "<f8").tobytes()], 0]


@pytest.mark.parametrize("batch", [
    _sparse_batch([4], [1.0]),  # past metrics x readings (2 x 2)
    _sparse_batch([1, 1], [1.0, 2.0]),  # repeated
    _sparse_batch([2, 1], [1.0, 2.0]),  # descending
    _sparse_batch([0], [np.nan]),  # a present value that is absent
    _sparse_batch([0], [np.inf]),
    _sparse_batch([0, 1], [1.0]),  # lengths differ
    _sparse_batch([0], [1.0], dtype="<u2"),  # not a whole number of positions
])
def test_refuses_an_inconsistent_sparse_batch(batch):
    with pytest.raises(ValueError):
        decode_columns(batch)
    assert decode_columns(_sparse_batch([0, 3], [1.0, 2.0])).values[1, 1] == 2.0


def test_a_sparse_batch_spanning_too_many_value_slots_is_refused():
    from lithair_node.machine.commands import MAX_BATCH_SLOTS
    n = MAX_BATCH_SLOTS // 2 + 1
    with pytest.raises(ValueError, match="value slots"):
        decode_values([np.asarray([0], "<u4").tobytes(), np.asarray([1.0]).tobytes()], 2, n)


def test_batches_with_different_names_are_not_merged_into_one_huge_matrix(monkeypatch):
    """Group commit merges batches sharing sensors; 40 batches of 100 readings, each with 64
    names of its own and one value a reading, would merge into 2,560 x 4,000 slots."""
    import lithair_node.machine.ingest as ingest
    from lithair_node.machine.commands import MetricLimits

    batches = [make_columns([("shared", b * 1000 + i, {f"b{b}_{i % 64}": 1.0}, None)
                             for i in range(100)]) for b in range(40)]
    limits = MetricLimits(per_sensor=4000, per_cluster=4000)
    one_by_one = StateMachine()
    for index, columns in enumerate(batches, start=1):
        one_by_one.apply(LogEntry(index, 1, encode_ingest(
            [make_encoded_batch(columns, None, 100)], limits)))

    def no_merge(*_):
        raise AssertionError("merged")

    monkeypatch.setattr(ingest, "merge_columns", no_merge)
    together = StateMachine()
    result = together.apply(LogEntry(1, 1, encode_ingest(
        [make_encoded_batch(c, None, 100) for c in batches], limits)))
    assert result.error is None and {o.status for o in result.batches} == {"ok"}
    assert together.stats()["total_readings"] == 4000
    assert together.digest() == one_by_one.digest()
