"""rows_as_dicts' fast path (rows with every value) builds the objects the per-value loop does."""

import numpy as np
import pytest

from lithair_node.node.queries.series_reads import format_timestamps, rows_as_dicts


def _reference(ts, values, names):
    return [{"timestamp": stamp, "timestamp_us": micros,
             "values": {n: v for n, v in zip(names, column, strict=True) if v == v}}
            for stamp, micros, column in zip(format_timestamps(ts), ts.tolist(), values.T.tolist(),
                                             strict=True)]


@pytest.mark.parametrize("gaps", [0.0, 0.1, 1.0])
def test_rows_are_the_reference_objects_in_the_same_key_order(gaps):
    rng = np.random.default_rng(int(gaps * 10))
    names = ["b", "a", "c"]
    ts = np.sort(rng.integers(0, 2**52, 300))
    values = rng.normal(size=(3, 300))
    values[rng.random((3, 300)) < gaps] = np.nan
    got = rows_as_dicts(ts, values, names)
    want = _reference(ts, values, names)
    assert got == want
    assert [list(r["values"]) for r in got] == [list(r["values"]) for r in want]


def test_no_rows_and_a_shape_mismatch():
    assert rows_as_dicts(np.empty(0, np.int64), np.empty((2, 0)), ["a", "b"]) == []
    with pytest.raises(ValueError):
        rows_as_dicts(np.arange(3), np.zeros((2, 3)), ["a"])
