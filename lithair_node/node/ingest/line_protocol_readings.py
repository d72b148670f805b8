"""Line protocol points -> Lithair readings: the same validated BatchColumns a JSON batch
gives, through the same validate_batch, so every limit and check applies once.

The mapping (the README says the same to users):
- Sensor id: the value of the first of `sensor_tags` the point has: `--lp-sensor-tag`
  (default `sensor_id`), then `mote_id`, `device_id`, `host`. A point with none is refused.
- Location: the `location` tag. Other tags are not stored (Lithair indexes sensors only).
- Metrics: each float, integer (`i`) or unsigned (`u`) field is a metric; a boolean is
  1.0 or 0.0; a string field is refused (400 naming its line). A field key must be a valid
  Lithair metric name, and not sensor_id, timestamp, location or values.
- Metric names: the field key as it is (MetricNaming.FIELD, the default), so
  `weather,sensor_id=m1 temperature=21.5` stores what the JSON reading
  `{"sensor_id": "m1", "temperature": 21.5}` stores. The measurement is not stored. With
  MetricNaming.MEASUREMENT_FIELD the name is `measurement.field` (`cpu.usage_idle`), for
  writers such as Telegraf that reuse field keys across measurements (`mem.used`,
  `disk.used`). The rule depends on the configuration only, never on the rest of the batch.
- One reading per (sensor, timestamp): the points of a sensor at one instant (Telegraf
  writes cpu, mem, disk... of a host at the same timestamp) are merged. A metric given twice
  keeps its first value (Lithair's "first write wins"), except that in FIELD naming two
  different measurements giving the same field for one reading are refused: keeping either
  would silently lose the other (use MEASUREMENT_FIELD).
- Timestamps are truncated to the microsecond and must fall in 1970-9999.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

import msgpack
import numpy as np

from lithair_node.machine.commands import BatchColumns
from lithair_node.node.errors import InvalidBatch, InvalidReading
from lithair_node.node.ingest.fields import MAX_METRICS_PER_READING, RESERVED_FIELDS, Limits
from lithair_node.node.ingest.line_protocol import FieldBlock, LineProtocolError, ParsedBody, parse_body
from lithair_node.node.ingest.validation import validate_batch
from lithair_node.node.timestamps import MAX_US, MIN_US, US_PER_SECOND

DEFAULT_SENSOR_TAGS: Final = ("sensor_id", "mote_id", "device_id", "host")
LOCATION_TAG: Final = "location"


class MetricNaming(enum.Enum):
    FIELD = "field"
    MEASUREMENT_FIELD = "measurement.field"


@dataclass(frozen=True)
class LineProtocolMapping:
    sensor_tags: tuple[str, ...] = DEFAULT_SENSOR_TAGS
    naming: MetricNaming = MetricNaming.FIELD

    @classmethod
    def with_sensor_tag(cls, tag: str, naming: MetricNaming = MetricNaming.FIELD) -> LineProtocolMapping:
        """`tag` first, then the default ones (as `--lp-sensor-tag` sets it)."""
        return cls((tag, *(t for t in DEFAULT_SENSOR_TAGS if t != tag)), naming)


def line_protocol_batch(body: bytes | str, *, unit_ns: int, received_ns: int,
                        mapping: LineProtocolMapping, limits: Limits) -> tuple[BatchColumns, int]:
    """(validated columns, readings received) for a line-protocol body, or
    LineProtocolError (400) naming the line at fault, or TooManyReadings (413)."""
    parsed = parse_body(body, unit_ns=unit_ns, received_ns=received_ns, max_points=limits.max_readings)
    table = _ReadingTable.of(parsed, mapping)
    try:
        return validate_batch(table.batch_body(), limits)
    except InvalidReading as exc:
        raise LineProtocolError(exc.message, line=table.line_of(exc)) from None
    except InvalidBatch as exc:
        raise LineProtocolError(exc.message) from None


@dataclass
class _ReadingTable:
    """One row per reading: the columns of a columnar batch, plus each row's first line."""

    lines: list[int]
    measurements: list[str]
    sensors: list[str]
    locations: list[str | None]
    micros: list[int]
    metrics: dict[str, list[Any]]  # metric -> value per row (None: absent)
    naming: MetricNaming

    @classmethod
    def of(cls, parsed: ParsedBody, mapping: LineProtocolMapping) -> _ReadingTable:
        sensor_of = [_sensor(series.tags, mapping.sensor_tags) for series in parsed.series]
        table = cls([], [], [], [], [], {}, mapping.naming)
        for block in parsed.blocks:
            missing = next((s for s in block.series if sensor_of[s] is None), None)
            if missing is not None:
                line = block.lines[block.series.index(missing)]
                raise LineProtocolError(f"no sensor tag: give one of {', '.join(mapping.sensor_tags)}",
                                        line=line)
            table._add_block(parsed, block, sensor_of)  # type: ignore[arg-type]
        table._merge_instants()
        return table

    def _add_block(self, parsed: ParsedBody, block: FieldBlock, sensor_of: list[str]) -> None:
        start = len(self.lines)
        n = len(block.lines)
        measurement_of = [parsed.series[s].measurement for s in block.series]
        location_of = [series.tags.get(LOCATION_TAG) for series in parsed.series]
        self.lines += block.lines
        self.measurements += measurement_of
        self.sensors += map(sensor_of.__getitem__, block.series)
        self.locations += map(location_of.__getitem__, block.series)
        self.micros += _micros(block)
        for name, values in zip(block.names, block.columns, strict=True):
            values = _numbers(name, values, block.lines)
            if self.naming is MetricNaming.FIELD:
                self._put(name, start, values, block.lines[0])
                continue
            for measurement in dict.fromkeys(measurement_of):
                rows = [i for i, m in enumerate(measurement_of) if m == measurement]
                column = [None] * n
                for i in rows:
                    column[i] = values[i]
                self._put(f"{measurement}.{name}", start, column, block.lines[rows[0]])

    def _put(self, metric: str, start: int, values: list[Any], line: int) -> None:
        """Blocks add rows at the end of the table: a metric's column is padded with None
        up to the block's first row, then takes its values."""
        if metric in RESERVED_FIELDS:
            raise LineProtocolError(f"field {metric!r} is reserved: rename it", line=line)
        column = self.metrics.setdefault(metric, [])
        column += [None] * (start - len(column))
        column += values

    def _merge_instants(self) -> None:
        """Merge rows of one sensor at one microsecond into the row of the earliest line."""
        n = len(self.lines)
        for column in self.metrics.values():
            column += [None] * (n - len(column))
        if len(set(zip(self.sensors, self.micros, strict=True))) == n:
            return
        first_row: dict[tuple[str, int], int] = {}
        set_by: dict[tuple[int, str], str] = {}  # (row, metric) -> measurement, for merged values
        keep = [True] * n
        for row in sorted(range(n), key=self.lines.__getitem__):
            target = first_row.setdefault((self.sensors[row], self.micros[row]), row)
            if target == row:
                continue
            keep[row] = False
            if self.locations[row] is not None:
                self.locations[target] = self.locations[row]  # the last location given wins
            for metric, column in self.metrics.items():
                value = column[row]
                if value is None:
                    continue
                if column[target] is None:
                    column[target] = value
                    set_by[target, metric] = self.measurements[row]
                    continue
                earlier = set_by.get((target, metric), self.measurements[target])
                if self.naming is MetricNaming.FIELD and earlier != self.measurements[row]:
                    raise LineProtocolError(
                        f"field {metric!r} of measurement {self.measurements[row]!r} is also given "
                        f"by measurement {earlier!r} for the same sensor and time: name metrics "
                        "measurement.field to keep both", line=self.lines[row])
        for name in ("lines", "measurements", "sensors", "locations", "micros"):
            setattr(self, name, [v for v, kept in zip(getattr(self, name), keep, strict=True) if kept])
        for metric, column in self.metrics.items():
            self.metrics[metric] = [v for v, kept in zip(column, keep, strict=True) if kept]

    def line_of(self, error: InvalidReading) -> int | None:
        """The line validation's error is about. A columnar batch checks a metric's name
        once, as if in reading 0: name the first line that gives that metric."""
        row = error.reading
        if row is None:
            return None
        column = self.metrics.get(error.field or "")
        if column is not None and column[row] is None:
            row = next(i for i, value in enumerate(column) if value is not None)
        return self.lines[row]

    def batch_body(self) -> dict[str, Any]:
        """A body validate_batch accepts: columnar, or rows when more metrics are named
        than one columnar batch may carry."""
        stamps = _epoch_seconds(self.micros)
        has_location = self.locations.count(None) < len(self.locations)
        if len(self.metrics) <= MAX_METRICS_PER_READING:
            columns: dict[str, list[Any]] = {"sensor_id": self.sensors, "timestamp": stamps}
            if has_location:
                columns["location"] = self.locations
            return {"columns": {**columns, **self.metrics}}
        readings = []
        for i, (sensor, stamp, location) in enumerate(zip(self.sensors, stamps, self.locations, strict=True)):
            reading = {"sensor_id": sensor, "timestamp": stamp}
            if location is not None:
                reading["location"] = location
            reading.update((m, column[i]) for m, column in self.metrics.items() if column[i] is not None)
            readings.append(reading)
        return {"readings": readings}


def _sensor(tags: dict[str, str], sensor_tags: tuple[str, ...]) -> str | None:
    for tag in sensor_tags:
        value = tags.get(tag)
        if value is not None:
            return value
    return None


def _micros(block: FieldBlock) -> list[int]:
    micros = [stamp // 1000 for stamp in block.timestamps_ns]
    low, high = min(micros), max(micros)
    if low < MIN_US or high > MAX_US:
        bad = next(i for i, us in enumerate(micros) if not MIN_US <= us <= MAX_US)
        raise LineProtocolError("timestamp out of range (1970 to 9999): is the precision right?",
                                line=block.lines[bad])
    return micros


def _numbers(name: str, values: list[Any], lines: list[int]) -> list[Any]:
    """A field's values as metric values: numbers kept, booleans as 1.0/0.0, strings refused."""
    kinds = set(map(type, values))
    if str in kinds:
        line = lines[next(i for i, v in enumerate(values) if type(v) is str)]
        raise LineProtocolError(f"field {name!r} is a string: Lithair stores numbers "
                                "(float, integer, unsigned or boolean fields)", line=line)
    if bool in kinds:
        return [float(v) if type(v) is bool else v for v in values]
    return values


def _epoch_seconds(micros: list[int]) -> list[Any]:
    """Timestamps validate_batch turns back into exactly these microseconds: whole seconds
    as ints, else float seconds where the float round trip is exact, else msgpack
    Timestamps (exact, on validation's slower per-reading path)."""
    us = np.asarray(micros, dtype=np.int64)
    if not (us % US_PER_SECOND).any():
        return (us // US_PER_SECOND).tolist()
    seconds = us / US_PER_SECOND
    # What validation computes back, compared as integers (beyond 2**53 a float compare
    # would round `us` too).
    exact = np.rint(seconds * US_PER_SECOND).astype(np.int64) == us
    if exact.all():
        return seconds.tolist()
    return [msgpack.Timestamp.from_unix_nano(int(u) * 1000) for u in micros]
