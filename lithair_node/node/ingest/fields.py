"""Checks of one field, and of a whole list of one field at once (the fast paths' checks).

The per-value checks raise InvalidReading naming the reading and field; the list checks
return None when they cannot prove every value valid, so the caller falls back to the
per-value checks, which name the first error.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from lithair_node.machine.commands import MAX_BATCH_SLOTS, TS_DTYPE, VALUE_DTYPE
from lithair_node.node.errors import InvalidReading, TooManyMetrics
from lithair_node.node.timestamps import (
    MAX_US,
    MIN_US,
    US_PER_SECOND,
    checked_micros,
    parse_rfc3339,
    parse_timestamp,
)

RESERVED_FIELDS = frozenset({"sensor_id", "timestamp", "location", "values"})
MAX_SENSOR_ID_CHARS = 128
MAX_LOCATION_CHARS = 256
MAX_METRIC_NAME_CHARS = 64
MAX_METRICS_PER_READING = 64
METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
# Finite float64 range: ints beyond it cannot be stored as a metric value.
MAX_FLOAT = 1.7976931348623157e308
# A coarse bound in seconds that keeps the float -> int64 cast defined; the exact bound is
# checked in microseconds after rounding (MAX_US / 1e6 rounds up to the first second of 10000).
_CAST_BOUND_S = 2 * MAX_US / US_PER_SECOND
NUMBER_TYPES = (frozenset({float}), frozenset({int}), frozenset({float, int}))


@dataclass(frozen=True)
class Limits:
    max_readings: int = 10_000


# -- one value -------------------------------------------------------------------------------


def sensor_id_of(reading: dict[str, Any], index: int) -> str:
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


def timestamp_of(reading: dict[str, Any], index: int) -> int:
    if "timestamp" not in reading:
        raise InvalidReading("timestamp is required", reading=index, field="timestamp")
    value = reading["timestamp"]
    try:
        if type(value) is msgpack.Timestamp:  # msgpack's native timestamp extension
            return checked_micros(value.seconds * US_PER_SECOND + value.nanoseconds // 1000)
        return parse_timestamp(value)
    except ValueError as exc:
        raise InvalidReading(str(exc), reading=index, field="timestamp") from None


def checked_location(value: Any, index: int) -> str:
    if type(value) is not str or not value or len(value) > MAX_LOCATION_CHARS:
        raise InvalidReading(
            f"location must be a string of 1-{MAX_LOCATION_CHARS} characters",
            reading=index,
            field="location",
        )
    if not value.isprintable():
        raise InvalidReading("location must be printable", reading=index, field="location")
    return value


def check_value_slots(names: int, readings: int) -> None:
    """Refuse (422) before the metrics x readings matrix is allocated: many names, each
    reading carrying a few, would make it far larger than the body (apply refuses it too)."""
    if names * readings > MAX_BATCH_SLOTS:
        raise TooManyMetrics(
            f"{readings} readings with {names} distinct metric names: {names * readings} value "
            f"slots, more than the {MAX_BATCH_SLOTS} one batch may span; send fewer names per "
            "batch", field="readings")


def metric_value(name: str, value: Any, index: int) -> float:
    kind = type(value)
    if kind is float:
        if math.isfinite(value):
            return value
        raise InvalidReading(f"{name} must be a finite number (NaN/Infinity refused)",
                             reading=index, field=name)
    if kind is int:
        if -MAX_FLOAT <= value <= MAX_FLOAT:
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


def metric_column(name: str, index: int, metric_col: dict[str, int]) -> int:
    column = metric_col.get(name)
    if column is not None:
        return column
    if len(name) > MAX_METRIC_NAME_CHARS or not METRIC_NAME.fullmatch(name):
        raise InvalidReading(
            f"metric name {name!r} must match [A-Za-z_][A-Za-z0-9_.-]* "
            f"and be at most {MAX_METRIC_NAME_CHARS} characters",
            reading=index,
            field=name[:MAX_METRIC_NAME_CHARS],
        )
    column = metric_col[name] = len(metric_col)
    return column


# -- a whole list of one field ---------------------------------------------------------------


def fast_sensor_ids(ids: list[Any]) -> list[str] | None:
    try:
        # join raises TypeError on anything but a str: one C-level pass, where a type() per
        # id was ~15 us for 1,000 (decoders make exact str, never a subclass).
        "".join(ids)
    except TypeError:
        if set(map(type, ids)) <= {str, int}:
            return fast_sensor_ids([s if type(s) is str else str(s) for s in ids])
        return None
    # Each distinct id checked by C-level passes, not a Python loop: a concatenation is
    # printable iff every part is.
    distinct = set(ids)
    joined = "".join(distinct)
    # The only printable whitespace is " ": without one, no id is all whitespace.
    if ("" in distinct or max(map(len, distinct)) > MAX_SENSOR_ID_CHARS
            or not joined.isprintable() or (" " in joined and any(map(str.isspace, distinct)))):
        return None
    return ids


def fast_timestamps(stamps: list[Any]) -> np.ndarray | None:
    kinds = set(map(type, stamps))
    if kinds == {float}:
        seconds = np.asarray(stamps, dtype=np.float64)
        # NaN fails both comparisons; the per-reading path rounds the same IEEE product.
        if not ((seconds > -1) & (seconds < _CAST_BOUND_S)).all():
            return None
        micros = np.rint(seconds * US_PER_SECOND).astype(TS_DTYPE)
        return micros if _in_range(micros) else None
    if kinds == {int}:
        try:
            whole = np.asarray(stamps, dtype=np.int64)
        except OverflowError:
            return None
        if not ((whole >= 0) & (whole < _CAST_BOUND_S)).all():
            return None
        micros = whole * US_PER_SECOND
        return micros if _in_range(micros) else None
    if kinds == {str}:
        try:
            return np.fromiter(map(parse_rfc3339, stamps), dtype=TS_DTYPE, count=len(stamps))
        except ValueError:
            return None
    return None


def _in_range(micros: np.ndarray) -> bool:
    return bool(micros.min() >= MIN_US and micros.max() <= MAX_US)


def fast_metric(column: list[Any]) -> np.ndarray | None:
    kinds = frozenset(map(type, column))
    if kinds not in NUMBER_TYPES:
        return None
    try:
        # fromiter: ~20% cheaper than asarray on a flat list of floats (no shape discovery).
        numbers = np.fromiter(column, dtype=VALUE_DTYPE, count=len(column))
    except OverflowError:  # an int beyond float64
        return None
    if not np.isfinite(numbers).all():
        return None
    if int in kinds and (np.abs(numbers) == MAX_FLOAT).any():
        return None  # an int just past the float64 range rounds to its edge: let the checked path refuse it
    return numbers
