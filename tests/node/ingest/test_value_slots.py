"""A batch of many metric names, each reading carrying a few, is refused (422) before its
metrics x readings matrix is allocated; the fast and checked paths agree."""

from __future__ import annotations

import pytest

from lithair_node import api
from lithair_node.machine.commands import MAX_BATCH_SLOTS
from lithair_node.node.errors import InvalidReading, TooManyMetrics
from lithair_node.node.ingest.validation import Limits, validate_batch

READINGS = 10_000
NAMES = MAX_BATCH_SLOTS // READINGS + 1  # 420: just past the bound


def _rows() -> list[dict[str, object]]:
    return [{"sensor_id": f"s{i % 40}", "timestamp": i + 1, f"n{i % NAMES:03d}": 1.0}
            for i in range(READINGS)]


def test_too_many_value_slots_is_a_clear_422() -> None:
    with pytest.raises(TooManyMetrics) as refused:
        validate_batch({"readings": _rows()}, Limits(max_readings=READINGS))
    assert refused.value.status == 422 and refused.value.code == api.TOO_MANY_METRICS
    assert f"{READINGS} readings with {NAMES} distinct metric names" in refused.value.message
    # one name fewer fits
    rows = [{**r} for r in _rows()]
    for r in rows:
        if f"n{NAMES - 1:03d}" in r:
            r.pop(f"n{NAMES - 1:03d}")
            r["n000"] = 2.0
    columns, received = validate_batch({"readings": rows}, Limits(max_readings=READINGS))
    assert received == READINGS and len(columns.metrics) == NAMES - 1


def test_a_bad_reading_is_still_named_first() -> None:
    rows = _rows()
    rows[7]["n007"] = "hot"
    with pytest.raises(InvalidReading) as refused:
        validate_batch({"readings": rows}, Limits(max_readings=READINGS))
    assert refused.value.reading == 7


def test_columnar_bodies_are_bounded_too() -> None:
    n = MAX_BATCH_SLOTS // 64 + 1
    columns = {"sensor_id": ["s"] * n, "timestamp": list(range(1, n + 1)),
               **{f"m{j:02d}": [None] * n for j in range(64)}}
    with pytest.raises(TooManyMetrics):
        validate_batch({"columns": columns}, Limits(max_readings=n))
