"""Turn a decoded request body into validated, sensor-grouped columns (or a typed error).

All checking happens here, on the node that received the request, before anything enters
the Raft log: apply then only has to deduplicate against stored data.

Row bodies take the fast path (fast_rows.py) when it can prove the batch valid, else the
per-reading path (checked_rows.py); both give the same result, which
tests/node/test_validation.py checks. Column-oriented bodies go to columnar.py. The checks
of one field live in fields.py.
"""

from __future__ import annotations

from typing import Any

from lithair_node.machine.commands import BatchColumns
from lithair_node.node.errors import InvalidBatch, TooManyReadings
from lithair_node.node.ingest.checked_rows import checked_columns
from lithair_node.node.ingest.columnar import columnar_batch
from lithair_node.node.ingest.fast_rows import fast_columns
from lithair_node.node.ingest.fields import Limits


def validate_batch(body: Any, limits: Limits) -> tuple[BatchColumns, int]:
    """Return (columns, readings received) or raise InvalidBatch / InvalidReading / 413.

    The body is `{"readings": [reading, ...]}` or, column-oriented,
    `{"columns": {"sensor_id": [...], "timestamp": [...], "location": [...], metric: [...]}}`
    (see columnar_batch)."""
    if type(body) is dict and "columns" in body:
        return columnar_batch(body, limits)
    readings = _readings_list(body, limits)
    columns = fast_columns(readings)
    if columns is None:
        columns = checked_columns(readings)
    return columns, len(readings)


def _readings_list(body: Any, limits: Limits) -> list[Any]:
    if type(body) is not dict:
        raise InvalidBatch('the body must be an object: {"readings": [...]}')
    for name in body:
        if name != "readings":
            raise InvalidBatch(f"unknown field {name!r} in the body", field=str(name))
    readings = body.get("readings")
    if type(readings) is not list:
        raise InvalidBatch('"readings" must be an array of readings', field="readings")
    if not readings:
        raise InvalidBatch('"readings" is empty: send at least one reading', field="readings")
    if len(readings) > limits.max_readings:
        raise TooManyReadings(
            f"{len(readings)} readings in one batch; the maximum is {limits.max_readings}",
            field="readings",
        )
    return readings
