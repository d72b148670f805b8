"""The row fast path's front end: a JSON batch of a known shape decoded into typed readings.

orjson builds a dict per reading (every key of every reading a new str and a hash insert),
then fast_rows.py pulls each field out and checks its values' types as a set. Once this node
has accepted a batch whose readings have some set of fields (its shape), bodies of that
shape are decoded by msgspec into Structs whose fields are typed (sensor_id and location
str, timestamp int | float | str, metrics float) in one C pass, and the columns are pulled
out with the fast path's own checks (fields.py, fast_rows.fast_locations, grouping.py): no
dict per reading, and no type check left to do on the metrics.

It only ever accepts what the usual path (bodies.decode_json + validation.validate_batch)
accepts, with the same columns, and anything else (another shape, a null, a bool, a nested
object, an unknown top-level field, a key given twice, too many readings) gives None and
the body takes the usual path, which names the error (tests/node/ingest/test_typed_rows.py).
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

from lithair_node.machine.commands import MAX_BATCH_SLOTS, VALUE_DTYPE, BatchColumns
from lithair_node.node.ingest.duplicate_keys import count_colons
from lithair_node.node.ingest.fast_rows import fast_locations, shape_metrics
from lithair_node.node.ingest.fields import (
    MAX_FLOAT,
    RESERVED_FIELDS,
    Limits,
    fast_sensor_ids,
    fast_timestamps,
)
from lithair_node.node.ingest.grouping import group_by_sensor

UTF8_BOM = b"\xef\xbb\xbf"
_STRINGS = frozenset({"sensor_id", "location"})


class _Shape:
    """One shape's decoder, and its columns. Struct attributes are f0, f1, ... in sorted
    field order, renamed to the JSON keys, so any metric name the fast path allows (dots,
    dashes) is a field."""

    def __init__(self, shape: tuple[str, ...]) -> None:
        self.shape = shape  # sorted
        self.misses = 0
        self.metrics = [name for name in shape if name not in RESERVED_FIELDS]
        fields: list[tuple[str, Any]] = []
        for i, name in enumerate(shape):
            # Metrics as float: msgspec rounds an integer literal to the nearest double as
            # float(int) does, and refuses one past the float64 range; a value at the range's
            # edge is left to the usual path (as fast_rows.fast_metric does).
            kind: Any = str if name in _STRINGS else (
                int | float | str if name == "timestamp" else float)
            fields.append((f"f{i}", kind))
        # gc=False: scalar fields make no cycles, and a batch of Structs then neither adds
        # to the collector's count nor is traversed by it.
        reading = msgspec.defstruct("Reading", fields, forbid_unknown_fields=True, gc=False,
                                    rename={f"f{i}": name for i, name in enumerate(shape)})
        batch = msgspec.defstruct("Batch", [("readings", list[reading])],  # type: ignore[valid-type]
                                  forbid_unknown_fields=True)
        self._decoder = msgspec.json.Decoder(batch)
        attribute = {name: f"f{i}" for i, name in enumerate(shape)}
        self._sensor = attrgetter(attribute["sensor_id"])
        self._stamp = attrgetter(attribute["timestamp"])
        self._location = attrgetter(attribute["location"]) if "location" in shape else None
        # All metrics of a reading as one tuple (one value if there is one): one pass.
        self._values = attrgetter(*(attribute[name] for name in self.metrics))
        self._string_fields = [attrgetter(attribute[name]) for name in shape if name in _STRINGS]

    def columns(self, raw: bytes, limits: Limits) -> tuple[BatchColumns, int] | None:
        try:
            readings = self._decoder.decode(raw).readings
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        n = len(readings)
        if (not 0 < n <= limits.max_readings or len(self.metrics) * n > MAX_BATCH_SLOTS
                or not self._keys_unique(raw, readings)):
            return None
        found = self._columns(readings)
        return None if found is None else (found, n)

    def _columns(self, readings: list[Any]) -> BatchColumns | None:
        """fast_rows._columns for readings of one known shape, whose types msgspec checked."""
        n, m = len(readings), len(self.metrics)
        sensors = fast_sensor_ids(list(map(self._sensor, readings)))
        stamps = fast_timestamps(list(map(self._stamp, readings)))
        if sensors is None or stamps is None:
            return None
        flat = map(self._values, readings) if m == 1 else chain.from_iterable(map(self._values, readings))
        values = np.fromiter(flat, dtype=VALUE_DTYPE, count=n * m).reshape(n, m).T
        if not np.isfinite(values).all() or (np.abs(values) == MAX_FLOAT).any():
            return None
        locations: list[str] | dict[str, str] = {}
        if self._location is not None:
            found = fast_locations(readings, sensors, True, self._location)
            if found is None:
                return None
            locations = found
        return group_by_sensor(sensors, stamps, locations, self.metrics, values)

    def _keys_unique(self, raw: bytes, readings: list[Any]) -> bool:
        """msgspec keeps the last of a repeated key. Every key is followed by one colon, so
        the raw colons are the keys plus the colons inside strings: exactly one colon per
        decoded key proves none was repeated (the common body, one count); more, and the
        colons inside decoded strings must make up the difference (an escaped colon,
        \\u003a, would blur that count: usual path)."""
        keys = 1 + len(readings) * len(self.shape)
        colons = count_colons(raw)
        if colons == keys:
            return True
        if colons < keys or b"\\u003" in raw:
            return False
        inside = sum("".join(map(get, readings)).count(":") for get in self._string_fields)
        stamps = list(map(self._stamp, readings))
        if str in set(map(type, stamps)):
            inside += "".join(s for s in stamps if type(s) is str).count(":")
        return colons == keys + inside


class TypedRows:
    """The shapes this node has accepted lately, most recent first, and their decoders."""

    MAX_SHAPES = 8
    # A shape whose decoder missed this many bodies in a row that the usual path then
    # accepted, their first reading of that very shape, is dropped and not learnt again: a
    # client sending mixed shapes (or ids as numbers, escaped colons...) would otherwise
    # pay a typed decode before every usual one. Refused bodies do not count.
    MAX_MISSES = 4
    MAX_REFUSED = 64

    def __init__(self) -> None:
        self._shapes: OrderedDict[tuple[str, ...], _Shape] = OrderedDict()
        self._refused: OrderedDict[tuple[str, ...], None] = OrderedDict()

    def columns(self, raw: bytes, limits: Limits) -> tuple[BatchColumns, int] | None:
        """The batch's columns if a known shape takes it, else None (the usual path)."""
        if raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM):]
        for shape in self._shapes.values():
            found = shape.columns(raw, limits)
            if found is not None:
                shape.misses = 0
                self._shapes.move_to_end(shape.shape, last=False)
                return found
        return None

    def learn(self, body: Any) -> None:
        """After the usual path accepted `body`: its first reading's shape is tried first
        from now on (a body of mixed shapes teaches one that the next such body misses)."""
        if type(body) is not dict or type(body.get("readings")) is not list or not body["readings"]:
            return
        first = body["readings"][0]
        if type(first) is not dict:
            return
        shape = tuple(sorted(first))  # a Struct takes its fields in any order
        known = self._shapes.get(shape)
        if known is not None:  # it missed this accepted body
            known.misses += 1
            if known.misses >= self.MAX_MISSES:
                del self._shapes[shape]
                self._refused[shape] = None
                while len(self._refused) > self.MAX_REFUSED:
                    self._refused.popitem(last=False)
            return
        if shape in self._refused or shape_metrics(shape) is None:
            return
        self._shapes[shape] = _Shape(shape)
        self._shapes.move_to_end(shape, last=False)
        while len(self._shapes) > self.MAX_SHAPES:
            self._shapes.popitem()
