"""The row fast path's id and location checks: what they accept, the per-reading path accepts
with the same result; what the per-reading path refuses, they leave to it (None)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lithair_node.node.errors import InvalidReading
from lithair_node.node.ingest.checked_rows import checked_columns
from lithair_node.node.ingest.fast_rows import fast_columns
from lithair_node.node.ingest.fields import MAX_LOCATION_CHARS, MAX_SENSOR_ID_CHARS, fast_sensor_ids


def _rows(ids: list[Any], locations: list[Any] | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i, sensor in enumerate(ids):
        row: dict[str, Any] = {"sensor_id": sensor, "timestamp": 1_700_000_000 + i, "t": float(i)}
        if locations is not None and locations[i] is not ...:
            row["location"] = locations[i]
        rows.append(row)
    return rows


VALID = [
    _rows(["a", "b", "a"]),
    _rows([7, "7x", 8]),  # integer ids are their decimal text
    _rows(["a b", "b"]),  # a space inside an id is fine
    _rows(["x" * MAX_SENSOR_ID_CHARS, "y"]),
    _rows(["a", "b", "a"], ["r1", "r2", "r3"]),  # a's last location wins
    _rows(["a", "b", "a"], ["r1", None, None]),  # null: no location
    _rows(["a", "b", "a"], [..., "r2", "r3"]),  # some readings without the field
    _rows(["a"], ["l" * MAX_LOCATION_CHARS]),
]

INVALID = [
    _rows(["a", ""]),
    _rows(["a", "   "]),
    _rows(["a", "b\x00"]),
    _rows(["a", "x" * (MAX_SENSOR_ID_CHARS + 1)]),
    _rows(["a", 1.5]),
    _rows(["a", None]),
    _rows(["a", "b"], ["r1", ""]),
    _rows(["a", "b"], ["r1", "r\n2"]),
    _rows(["a", "b"], ["r1", "l" * (MAX_LOCATION_CHARS + 1)]),
    _rows(["a", "b"], ["r1", 3]),
]


@pytest.mark.parametrize("rows", VALID)
def test_what_the_fast_path_accepts_matches_the_checked_path(rows: list[dict[str, Any]]) -> None:
    fast = fast_columns(rows)
    assert fast is not None
    checked = checked_columns(rows)
    assert fast.sensors == checked.sensors
    assert fast.locations == checked.locations
    assert fast.counts.tolist() == checked.counts.tolist()
    assert fast.ts.tolist() == checked.ts.tolist()
    assert np.array_equal(fast.values, checked.values, equal_nan=True)


@pytest.mark.parametrize("rows", INVALID)
def test_what_the_checked_path_refuses_the_fast_path_leaves_to_it(rows: list[dict[str, Any]]) -> None:
    assert fast_columns(rows) is None
    with pytest.raises(InvalidReading):
        checked_columns(rows)


def test_fast_sensor_ids_texts_integers() -> None:
    assert fast_sensor_ids([3, "3", "b"]) == ["3", "3", "b"]
    assert fast_sensor_ids(["a", b"a"]) is None
