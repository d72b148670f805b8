"""The per-reading path: what the fast path cannot prove valid, checked reading by reading."""

from __future__ import annotations

from typing import Any

import numpy as np

from lithair_node.machine.commands import TS_DTYPE, VALUE_DTYPE, BatchColumns
from lithair_node.node.errors import InvalidReading
from lithair_node.node.ingest.fields import (
    MAX_METRICS_PER_READING,
    RESERVED_FIELDS,
    check_value_slots,
    checked_location,
    metric_column,
    metric_value,
    sensor_id_of,
    timestamp_of,
)
from lithair_node.node.ingest.grouping import group_by_sensor


class _Cells:
    """The metric values of a batch as (metric column, reading, value) triples."""

    def __init__(self) -> None:
        self.metric_col: dict[str, int] = {}
        self.metric: list[int] = []
        self.row: list[int] = []
        self.value: list[float] = []

    def add(self, name: Any, value: Any, index: int) -> None:
        if type(name) is not str:
            raise InvalidReading("field names must be strings", reading=index)
        number = metric_value(name, value, index)
        self.metric.append(metric_column(name, index, self.metric_col))
        self.row.append(index)
        self.value.append(number)

    def add_nested(self, nested: Any, reading: dict[str, Any], index: int) -> None:
        if type(nested) is not dict:
            raise InvalidReading("values must be an object of metric: number", reading=index,
                                 field="values")
        for name, value in nested.items():
            if name in reading and name not in RESERVED_FIELDS:
                raise InvalidReading(f"metric {name!r} is given twice (top level and in values)",
                                     reading=index, field=str(name))
            if name in RESERVED_FIELDS:
                raise InvalidReading(f"{name!r} is reserved and cannot be a metric name",
                                     reading=index, field=name)
            self.add(name, value, index)

    def values(self, readings: int) -> tuple[list[str], np.ndarray]:
        """Metric names sorted, and the (metrics x readings) matrix, NaN where absent.
        Column order by sorted name, so equal content encodes to equal bytes."""
        names = sorted(self.metric_col)
        check_value_slots(len(names), readings)
        rank = np.empty(len(names), dtype=np.intp)
        for position, name in enumerate(names):
            rank[self.metric_col[name]] = position
        values = np.full((len(names), readings), np.nan, dtype=VALUE_DTYPE)
        values[rank[np.asarray(self.metric, dtype=np.intp)],
               np.asarray(self.row, dtype=np.intp)] = self.value
        return names, values


def checked_columns(readings: list[Any]) -> BatchColumns:
    """The per-reading path: checks every field of every reading in order and raises on the
    first error, naming its reading index and field."""
    sensor_of: list[str] = []
    ts_of: list[int] = []
    locations: dict[str, str] = {}
    cells = _Cells()
    for index, reading in enumerate(readings):
        if type(reading) is not dict:
            raise InvalidReading("each reading must be a JSON object", reading=index)
        sensor_id = sensor_id_of(reading, index)
        sensor_of.append(sensor_id)
        ts_of.append(timestamp_of(reading, index))
        location = reading.get("location")
        if location is not None:
            locations[sensor_id] = checked_location(location, index)
        before = len(cells.value)
        for name, value in reading.items():
            if name not in RESERVED_FIELDS:
                cells.add(name, value, index)
        nested = reading.get("values")
        if nested is not None:
            cells.add_nested(nested, reading, index)
        added = len(cells.value) - before
        if added == 0:
            raise InvalidReading(
                "a reading needs at least one numeric metric (e.g. temperature)", reading=index
            )
        if added > MAX_METRICS_PER_READING:
            raise InvalidReading(
                f"a reading may carry at most {MAX_METRICS_PER_READING} metrics", reading=index
            )
    names, values = cells.values(len(sensor_of))
    return group_by_sensor(sensor_of, np.asarray(ts_of, dtype=TS_DTYPE), locations, names, values)
