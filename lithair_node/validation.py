"""Turn a decoded request body into validated, sensor-grouped columns (or a typed error).

All checking happens here, on the node that received the request, before anything enters
the Raft log: apply then only has to deduplicate against stored data.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from .commands import TS_DTYPE, VALUE_DTYPE, BatchColumns
from .errors import InvalidBatch, InvalidReading, TooManyReadings
from .timestamps import MAX_US, MIN_US, US_PER_SECOND, parse_timestamp

RESERVED_FIELDS = frozenset({"sensor_id", "timestamp", "location", "values"})
MAX_SENSOR_ID_CHARS = 128
MAX_LOCATION_CHARS = 256
MAX_METRIC_NAME_CHARS = 64
MAX_METRICS_PER_READING = 64
_METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
# Finite float64 range: ints beyond it cannot be stored as a metric value.
_MAX_FLOAT = 1.7976931348623157e308


@dataclass(frozen=True)
class Limits:
    max_readings: int = 10_000


def validate_batch(body: Any, limits: Limits) -> tuple[BatchColumns, int]:
    """Return (columns, readings received) or raise InvalidBatch / InvalidReading / 413."""
    readings = _readings_list(body, limits)
    sensor_of: list[str] = []
    ts_of: list[int] = []
    locations: dict[str, str] = {}
    metric_col: dict[str, int] = {}
    cell_metric: list[int] = []
    cell_row: list[int] = []
    cell_value: list[float] = []
    for index, reading in enumerate(readings):
        if type(reading) is not dict:
            raise InvalidReading("each reading must be a JSON object", reading=index)
        sensor_id = _sensor_id(reading, index)
        sensor_of.append(sensor_id)
        ts_of.append(_timestamp(reading, index))
        location = reading.get("location")
        if location is not None:
            locations[sensor_id] = _location(location, index)
        before = len(cell_value)
        for name, value in reading.items():
            if name not in RESERVED_FIELDS:
                _add_cell(name, value, index, metric_col, cell_metric, cell_row, cell_value)
        nested = reading.get("values")
        if nested is not None:
            _add_nested(nested, reading, index, metric_col, cell_metric, cell_row, cell_value)
        added = len(cell_value) - before
        if added == 0:
            raise InvalidReading(
                "a reading needs at least one numeric metric (e.g. temperature)", reading=index
            )
        if added > MAX_METRICS_PER_READING:
            raise InvalidReading(
                f"a reading may carry at most {MAX_METRICS_PER_READING} metrics", reading=index
            )
    columns = _to_columns(sensor_of, ts_of, locations, metric_col, cell_metric, cell_row, cell_value)
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


def _sensor_id(reading: dict[str, Any], index: int) -> str:
    value = reading.get("sensor_id")
    kind = type(value)
    if kind is str:
        if not value:
            raise InvalidReading("sensor_id must not be empty", reading=index, field="sensor_id")
        if len(value) > MAX_SENSOR_ID_CHARS or not value.isprintable() or value.isspace():
            raise InvalidReading(
                f"sensor_id must be 1-{MAX_SENSOR_ID_CHARS} printable characters",
                reading=index,
                field="sensor_id",
            )
        return value
    if kind is int:
        text = str(value)
        if len(text) > MAX_SENSOR_ID_CHARS:
            raise InvalidReading("sensor_id is too long", reading=index, field="sensor_id")
        return text
    if value is None and "sensor_id" not in reading:
        raise InvalidReading("sensor_id is required", reading=index, field="sensor_id")
    raise InvalidReading("sensor_id must be a string or an integer", reading=index, field="sensor_id")


def _timestamp(reading: dict[str, Any], index: int) -> int:
    if "timestamp" not in reading:
        raise InvalidReading("timestamp is required", reading=index, field="timestamp")
    value = reading["timestamp"]
    if type(value) is msgpack.Timestamp:  # msgpack's native timestamp extension
        micros = value.seconds * US_PER_SECOND + value.nanoseconds // 1000
        if not MIN_US <= micros <= MAX_US:
            raise InvalidReading("timestamp out of range (1970 to 9999)", reading=index,
                                 field="timestamp")
        return micros
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise InvalidReading(str(exc), reading=index, field="timestamp") from None


def _location(value: Any, index: int) -> str:
    if type(value) is not str or not value or len(value) > MAX_LOCATION_CHARS:
        raise InvalidReading(
            f"location must be a string of 1-{MAX_LOCATION_CHARS} characters",
            reading=index,
            field="location",
        )
    if not value.isprintable():
        raise InvalidReading("location must be printable", reading=index, field="location")
    return value


def _metric_value(name: str, value: Any, index: int) -> float:
    kind = type(value)
    if kind is float:
        if math.isfinite(value):
            return value
        raise InvalidReading(f"{name} must be a finite number (NaN/Infinity refused)",
                             reading=index, field=name)
    if kind is int:
        if -_MAX_FLOAT <= value <= _MAX_FLOAT:
            return float(value)
        raise InvalidReading(f"{name} is too large for a float64", reading=index, field=name)
    if kind is bool:
        raise InvalidReading(f"{name} must be a number, not a boolean", reading=index, field=name)
    if name in ("sensor_id", "timestamp", "location"):  # cannot happen for top-level fields
        raise InvalidReading(f"{name} is reserved", reading=index, field=name)
    raise InvalidReading(
        f"unknown field {name!r}: fields other than sensor_id, timestamp, location and values "
        "are metrics and must be numbers",
        reading=index,
        field=name,
    )


def _metric_column(name: str, index: int, metric_col: dict[str, int]) -> int:
    column = metric_col.get(name)
    if column is not None:
        return column
    if len(name) > MAX_METRIC_NAME_CHARS or not _METRIC_NAME.fullmatch(name):
        raise InvalidReading(
            f"metric name {name!r} must match [A-Za-z_][A-Za-z0-9_.-]* "
            f"and be at most {MAX_METRIC_NAME_CHARS} characters",
            reading=index,
            field=name[:MAX_METRIC_NAME_CHARS],
        )
    column = metric_col[name] = len(metric_col)
    return column


def _add_cell(
    name: Any,
    value: Any,
    index: int,
    metric_col: dict[str, int],
    cell_metric: list[int],
    cell_row: list[int],
    cell_value: list[float],
) -> None:
    if type(name) is not str:
        raise InvalidReading("field names must be strings", reading=index)
    number = _metric_value(name, value, index)
    cell_metric.append(_metric_column(name, index, metric_col))
    cell_row.append(index)
    cell_value.append(number)


def _add_nested(
    nested: Any,
    reading: dict[str, Any],
    index: int,
    metric_col: dict[str, int],
    cell_metric: list[int],
    cell_row: list[int],
    cell_value: list[float],
) -> None:
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
        _add_cell(name, value, index, metric_col, cell_metric, cell_row, cell_value)


def _to_columns(
    sensor_of: list[str],
    ts_of: list[int],
    locations: dict[str, str],
    metric_col: dict[str, int],
    cell_metric: list[int],
    cell_row: list[int],
    cell_value: list[float],
) -> BatchColumns:
    n = len(sensor_of)
    names = sorted(metric_col)
    # Column order by sorted name, so equal content encodes to equal bytes.
    rank = np.empty(len(names), dtype=np.intp)
    for position, name in enumerate(names):
        rank[metric_col[name]] = position
    values = np.full((len(names), n), np.nan, dtype=VALUE_DTYPE)
    values[rank[np.asarray(cell_metric, dtype=np.intp)], np.asarray(cell_row, dtype=np.intp)] = (
        cell_value
    )

    sensors = sorted(set(sensor_of))
    sensor_rank = {sensor: position for position, sensor in enumerate(sensors)}
    group = np.fromiter((sensor_rank[s] for s in sensor_of), dtype=np.int64, count=n)
    ts = np.asarray(ts_of, dtype=TS_DTYPE)
    # lexsort is stable: among equal (sensor, ts) the first in the request comes first and is
    # the one kept, so "first write wins" holds inside a batch too.
    order = np.lexsort((ts, group))
    group, ts, values = group[order], ts[order], values[:, order]
    keep = np.ones(n, dtype=bool)
    keep[1:] = (group[1:] != group[:-1]) | (ts[1:] != ts[:-1])
    duplicates = n - int(keep.sum())
    if duplicates:
        group, ts, values = group[keep], ts[keep], values[:, keep]
    counts = np.bincount(group, minlength=len(sensors)).astype(np.uint32)
    return BatchColumns(
        sensors=sensors,
        counts=counts,
        locations=[locations.get(s) for s in sensors],
        ts=ts,
        metrics=names,
        values=np.ascontiguousarray(values),
        in_batch_duplicates=duplicates,
    )
