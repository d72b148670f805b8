"""The row fast path: a batch checked column by column.

Readings are grouped by their set of fields (usually one), each field is pulled out with a
C-level `map(itemgetter)`, its value types are checked as a set, numbers become numpy
arrays checked at once, and ids/locations/metric names are checked once per distinct
value. It accepts only what it can prove valid; anything else (an error, nested `values`,
msgpack timestamps, mixed int/float timestamps) returns None for the per-reading path
(checked_rows.py), which names the reading and field of the first error.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from lithair_node.machine.commands import MAX_BATCH_SLOTS, TS_DTYPE, VALUE_DTYPE, BatchColumns
from lithair_node.node.ingest.fields import (
    MAX_LOCATION_CHARS,
    MAX_METRIC_NAME_CHARS,
    MAX_METRICS_PER_READING,
    METRIC_NAME,
    RESERVED_FIELDS,
    fast_metric,
    fast_sensor_ids,
    fast_timestamps,
)
from lithair_node.node.ingest.grouping import group_by_sensor


def fast_columns(readings: list[Any]) -> BatchColumns | None:
    """Columns for a batch proven valid column by column, or None to take the checked path."""
    if set(map(type, readings)) != {dict}:
        return None
    if len(set(map(len, readings))) == 1:
        # Likely one shape: assume the first reading's; a reading lacking one of its fields
        # (same size, other keys) raises KeyError in the columns' itemgetter, and then the
        # batch is grouped by shape. Saves a tuple of names per reading.
        try:
            return _columns(readings, [(tuple(readings[0]), readings, None)])
        except KeyError:
            pass
    shapes = list(map(tuple, readings))  # each reading's field names, in order
    members: dict[tuple[Any, ...], list[int]] = {}
    for index, shape in enumerate(shapes):
        members.setdefault(shape, []).append(index)
    groups = [(shape, [readings[i] for i in rows], np.asarray(rows, dtype=np.intp))
              for shape, rows in members.items()]
    return _columns(readings, groups)


def _columns(readings: list[Any], groups: list[Any]) -> BatchColumns | None:
    n = len(readings)
    metric_names: set[str] = set()
    for shape, _, _ in groups:
        names = shape_metrics(shape)
        if names is None:
            return None
        metric_names.update(names)
    names_sorted = sorted(metric_names)
    if len(names_sorted) * n > MAX_BATCH_SLOTS:  # the checked path names the error
        return None
    position = {name: p for p, name in enumerate(names_sorted)}
    if len(groups) == 1:
        values = np.empty((len(names_sorted), n), dtype=VALUE_DTYPE)
    else:
        values = np.full((len(names_sorted), n), np.nan, dtype=VALUE_DTYPE)
    sensor_of: list[str] = [""] * n if len(groups) > 1 else []
    ts = np.empty(n, dtype=TS_DTYPE)
    has_location = False
    for shape, rows, where in groups:
        sensors = fast_sensor_ids(list(map(itemgetter("sensor_id"), rows)))
        stamps = fast_timestamps(list(map(itemgetter("timestamp"), rows)))
        if sensors is None or stamps is None:
            return None
        has_location = has_location or "location" in shape
        if where is None:
            sensor_of = sensors
            ts[:] = stamps
        else:
            for i, sensor in zip(where.tolist(), sensors, strict=True):
                sensor_of[i] = sensor
            ts[where] = stamps
        names = [name for name in shape if name not in RESERVED_FIELDS]
        # All of the group's metrics as one list: one type pass and one numpy conversion.
        block = fast_metric(list(chain.from_iterable(map(itemgetter(name), rows) for name in names)))
        if block is None:
            return None
        rows_of = [position[name] for name in names]
        block = block.reshape(len(names), len(rows))
        if where is None:
            values[rows_of] = block
        else:
            values[np.ix_(rows_of, where)] = block
    locations: list[str] | dict[str, str] = {}
    if has_location:
        found = fast_locations(readings, sensor_of, everyone=len(groups) == 1)
        if found is None:
            return None
        locations = found
    return group_by_sensor(sensor_of, ts, locations, names_sorted, values)


def shape_metrics(shape: tuple[Any, ...]) -> list[str] | None:
    """The metric names of a shape of reading (its field names), or None if this path
    cannot take it."""
    if "sensor_id" not in shape or "timestamp" not in shape or "values" in shape:
        return None
    names = [name for name in shape if name not in RESERVED_FIELDS]
    if not 1 <= len(names) <= MAX_METRICS_PER_READING:
        return None
    for name in names:
        if type(name) is not str or len(name) > MAX_METRIC_NAME_CHARS or not METRIC_NAME.fullmatch(name):
            return None
    return names


def fast_locations(readings: list[Any], sensor_of: list[str], everyone: bool,
                   location: Callable[[Any], Any] = itemgetter("location"),
                   ) -> list[str] | dict[str, str] | None:
    """Each reading's location once all are proven valid, or by sensor when some give none.
    `everyone`: one shape holding "location"; a reading without it raises KeyError.
    `location`: its getter (typed_rows.py reads Structs)."""
    if everyone:
        found = list(map(location, readings))
    else:
        found = list(map(dict.get, readings, ["location"] * len(readings)))
    try:
        "".join(found)  # TypeError unless every one is a str: C-level, no type() per reading
        gives_none = False
    except TypeError:
        if not set(map(type, found)) <= {str, type(None)}:
            return None
        gives_none = True
    distinct = set(found)
    distinct.discard(None)
    # A concatenation is printable iff every part is.
    if distinct and ("" in distinct or max(map(len, distinct)) > MAX_LOCATION_CHARS
                     or not "".join(distinct).isprintable()):
        return None
    if gives_none:
        return {s: loc for s, loc in zip(sensor_of, found, strict=True) if loc is not None}
    return found  # group_by_sensor keeps the last location given for a sensor
