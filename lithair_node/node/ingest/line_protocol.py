"""InfluxDB line protocol: a request body -> points, grouped in columns. Syntax only: no
clock, no readings (line_protocol_readings.py maps points to readings).

    measurement[,tag=value...] field=value[,field=value...] [timestamp]

- Escapes (a backslash before one of these characters stands for the character itself):
  measurement `,` and space; tag keys, tag values and field keys `,` `=` and space; string
  field values `"`. Everywhere `\\\\` is one backslash, and a backslash before any other
  character is a literal backslash (InfluxDB 2's rule).
- Field values: floats (`1`, `-1.5`, `.5`, `1e-3`; no NaN, no Inf), `12i` (int64), `12u`
  (uint64), booleans `t T true True TRUE` / `f F false False FALSE`, `"strings"`.
- A line starting with `#` (after blanks) is a comment; blank lines are skipped; `\\r\\n`
  ends a line too. A newline always ends a line (InfluxDB 1.x also let a string field
  span lines; Lithair refuses string fields anyway).
- A repeated tag key is an error and a repeated field key keeps its last value, as in
  InfluxDB.
- The timestamp is an integer in the request's precision; a line without one gets
  `received_ns`, which the caller reads from its clock once per request.

Speed: writers send the same measurement, tags and field keys line after line. So a body
without escapes, quotes or tabs is split into sections with str methods, its tag sets are
parsed once per distinct text, and its field sets are matched one shape (the field keys, in
order) at a time by a regular expression made for that shape, whose groups are then
converted a column at a time. Lines this does not prove well formed go to the exact scanner
(line_protocol_scan.ExactLine), which also words the error. About 1.3 µs per 5-field line
on the 2-core dev box (scripts/bench_line_protocol.py).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from itertools import compress
from operator import methodcaller
from typing import Final

from lithair_node.node.errors import TooManyReadings
from lithair_node.node.ingest.line_protocol_scan import (
    INT64_MAX,
    ExactLine,
    FieldValue,
    LineProtocolError,
    Point,
    value_column,
)

__all__ = ["FieldBlock", "LineProtocolError", "ParsedBody", "Point", "Series", "parse_body",
           "precision_ns"]

# Nanoseconds per unit of each API's `precision` parameter (absent: ns in both).
PRECISIONS_V2: Final = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
PRECISIONS_V1: Final = {"n": 1, "u": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                        "m": 60_000_000_000, "h": 3_600_000_000_000}
_NOT_PLAIN = ("\\", '"', "\t", "\r")  # a body with none of these can take the fast path
_MAX_SHAPES = 16  # field shapes tried by the fast path before the rest go line by line
_split_sections = methodcaller("split", " ")


@dataclass(frozen=True)
class Series:
    measurement: str
    tags: dict[str, str]


@dataclass
class FieldBlock:
    """Points that have the same field keys: one list per field, one element per point."""

    names: tuple[str, ...]
    lines: list[int] = field(default_factory=list)  # 1-based, ascending
    series: list[int] = field(default_factory=list)  # index in ParsedBody.series
    timestamps_ns: list[int] = field(default_factory=list)
    columns: list[list[FieldValue]] = field(default_factory=list)


@dataclass
class ParsedBody:
    series: list[Series]
    blocks: list[FieldBlock]

    def __len__(self) -> int:
        return sum(len(block.lines) for block in self.blocks)

    def points(self) -> list[Point]:
        """Point by point, in line order (for tests and small bodies; mapping uses blocks)."""
        points = [
            Point(line, self.series[s].measurement, self.series[s].tags,
                  dict(zip(block.names, values, strict=True)), stamp)
            for block in self.blocks
            for line, s, stamp, *values in zip(block.lines, block.series, block.timestamps_ns,
                                               *block.columns, strict=True)
        ]
        return sorted(points, key=lambda point: point.line)


def precision_ns(value: str | None, *, v1: bool) -> int:
    """Nanoseconds per unit of a `precision` query parameter (absent or empty: ns)."""
    if not value:
        return 1
    table = PRECISIONS_V1 if v1 else PRECISIONS_V2
    unit = table.get(value)
    if unit is None:
        raise LineProtocolError(f"invalid precision {value!r}: use one of {', '.join(table)}")
    return unit


def parse_body(body: bytes | str, *, unit_ns: int, received_ns: int, max_points: int) -> ParsedBody:
    """Every point of a body, or LineProtocolError naming the first bad line found (the
    whole body is refused, as InfluxDB refuses a body with a parse error)."""
    text = _decoded(body) if isinstance(body, bytes) else body
    if text.endswith("\n"):
        text = text[:-1]
    lines = text.split("\n")
    if "#" in text or "" in lines:  # comments or blank lines to skip
        numbers = [n for n, line in enumerate(lines, 1) if line and line[0] != "#"]
    else:
        numbers = list(range(1, len(lines) + 1))
    if len(numbers) > max_points:
        raise TooManyReadings(f"{len(numbers)} points in one request; the maximum is {max_points}",
                              field="body")
    builder = _Builder()
    rest = numbers
    if numbers and not any(char in text for char in _NOT_PLAIN):
        rest = _take_plain_lines(builder, text, lines, numbers, unit_ns, received_ns)
    for number in rest:
        point = ExactLine(lines[number - 1], number).point(unit_ns, received_ns)
        if point is not None:
            builder.add_point(point)
    parsed = builder.result()
    if not parsed.blocks:
        raise LineProtocolError("writing requires points")
    return parsed


def _decoded(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineProtocolError("invalid UTF-8", line=body.count(b"\n", 0, exc.start) + 1) from None


class _Builder:
    def __init__(self) -> None:
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._all_series: list[Series] = []
        self._blocks: dict[tuple[str, ...], FieldBlock] = {}

    def series_index(self, measurement: str, tags: dict[str, str]) -> int:
        key = (measurement, tuple(tags.items()))
        index = self._series.get(key)
        if index is None:
            index = self._series[key] = len(self._all_series)
            self._all_series.append(Series(measurement, tags))
        return index

    def _block(self, names: tuple[str, ...]) -> FieldBlock:
        block = self._blocks.get(names)
        if block is None:
            block = self._blocks[names] = FieldBlock(names, columns=[[] for _ in names])
        return block

    def add_point(self, point: Point) -> None:
        block = self._block(tuple(point.fields))
        block.lines.append(point.line)
        block.series.append(self.series_index(point.measurement, point.tags))
        block.timestamps_ns.append(point.timestamp_ns)
        for column, value in zip(block.columns, point.fields.values(), strict=True):
            column.append(value)

    def add_columns(self, names: tuple[str, ...], lines: list[int], series: list[int],
                    stamps: list[int], columns: list[list[FieldValue]]) -> None:
        block = self._block(names)
        block.lines += lines
        block.series += series
        block.timestamps_ns += stamps
        for column, values in zip(block.columns, columns, strict=True):
            column += values

    def result(self) -> ParsedBody:
        blocks = list(self._blocks.values())
        for block in blocks:  # fast and exact lines may share a block: restore line order
            if block.lines != sorted(block.lines):
                order = sorted(range(len(block.lines)), key=block.lines.__getitem__)
                block.lines = [block.lines[i] for i in order]
                block.series = [block.series[i] for i in order]
                block.timestamps_ns = [block.timestamps_ns[i] for i in order]
                block.columns = [[column[i] for i in order] for column in block.columns]
        return ParsedBody(self._all_series, blocks)


def _take_plain_lines(builder: _Builder, text: str, lines: list[str], numbers: list[int],
                      unit_ns: int, received_ns: int) -> list[int]:
    """Add the lines of a body without escapes or quotes that the fast path proves well
    formed; return the numbers of the others, for the exact scanner."""
    if len(numbers) == len(lines):  # no blank or comment line: try one shape for all
        shape = _single_shape(text, lines[0])
        if shape is not None:
            names, rows = shape
            keys, *raw_columns, stamp_texts = zip(*rows, strict=True)
            series = _plain_series(builder, keys)
            stamps = _plain_timestamps(stamp_texts, unit_ns, received_ns)
            if series is not None and stamps is not None:
                columns = [value_column(raw, numbers) for raw in raw_columns]
                builder.add_columns(names, numbers, series, stamps, columns)
                return []
    sections = list(map(_split_sections, (lines[n - 1] for n in numbers)))
    counts = set(map(len, sections))
    if counts == {3}:
        keys, field_sets, stamp_texts = zip(*sections, strict=True)
    elif counts == {2}:
        keys, field_sets = zip(*sections, strict=True)
        stamp_texts = ("",) * len(keys)
    else:
        return numbers  # mixed or repeated spaces
    series = _plain_series(builder, keys)
    stamps = _plain_timestamps(stamp_texts, unit_ns, received_ns)
    if series is None or stamps is None:
        return numbers
    return _take_shapes(builder, list(field_sets), numbers, series, stamps)


def _single_shape(text: str, first_line: str) -> tuple[tuple[str, ...], list[tuple[str, ...]]] | None:
    """(the field keys, (key, value..., timestamp or "") per line) if every line has the
    first line's field keys, in order; else None."""
    sections = first_line.split(" ")
    names = _plain_names(sections[1]) if len(sections) in (2, 3) else None
    if names is None:
        return None
    rows = _line_pattern(names).findall(text)
    # Each match is one whole line (^...$, no newline inside): as many matches as lines
    # means every line matched.
    return (names, rows) if len(rows) == text.count("\n") + 1 else None


def _take_shapes(builder: _Builder, field_sets: list[str], numbers: list[int],
                 series: list[int], stamps: list[int]) -> list[int]:
    """Add lines one field shape at a time; return the numbers of lines left over."""
    for _ in range(_MAX_SHAPES):
        names = _plain_names(field_sets[0])
        if names is None:
            return numbers
        matches = list(map(_shape_pattern(names).fullmatch, field_sets))
        if None not in matches:
            _add_shape(builder, names, matches, numbers, series, stamps)
            return []
        hit = [match is not None for match in matches]
        _add_shape(builder, names, list(compress(matches, hit)), list(compress(numbers, hit)),
                   list(compress(series, hit)), list(compress(stamps, hit)))
        miss = [not taken for taken in hit]
        field_sets, numbers, series, stamps = (list(compress(column, miss))
                                               for column in (field_sets, numbers, series, stamps))
    return numbers


def _add_shape(builder: _Builder, names: tuple[str, ...], matches: list[re.Match[str]],
               lines: list[int], series: list[int], stamps: list[int]) -> None:
    raw_columns = zip(*map(re.Match.groups, matches), strict=True)
    columns = [value_column(raw, lines) for raw in raw_columns]
    builder.add_columns(names, lines, series, stamps, columns)


def _plain_series(builder: _Builder, keys: tuple[str, ...]) -> list[int] | None:
    """The series index of each line's key (measurement and tags), parsed once per distinct
    key; None if one needs the exact scanner."""
    index_of: dict[str, int] = {}
    for key in dict.fromkeys(keys):
        head = _plain_head(key)
        if head is None:
            return None
        index_of[key] = builder.series_index(*head)
    return list(map(index_of.__getitem__, keys))


def _plain_timestamps(texts: tuple[str, ...], unit_ns: int, received_ns: int) -> list[int] | None:
    """Timestamps in ns ("" is no timestamp); None (negative, malformed, beyond int64) to
    let the exact scanner word it."""
    if "" in texts:
        if any(texts):  # some lines with a timestamp, some without
            stamps = [_plain_timestamps((text,), unit_ns, received_ns) if text else [received_ns]
                      for text in texts]
            return None if None in stamps else [stamp[0] for stamp in stamps]  # type: ignore[index]
        return [received_ns] * len(texts)
    joined = "".join(texts)
    if not (joined.isdigit() and joined.isascii()):
        return None
    stamps = list(map(int, texts))
    if max(stamps) > INT64_MAX:
        return None
    return stamps if unit_ns == 1 else [stamp * unit_ns for stamp in stamps]


def _plain_head(key: str) -> tuple[str, dict[str, str]] | None:
    measurement, *pairs = key.split(",")
    if not measurement:
        return None
    tags: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not (name and equals and value) or "=" in value or name in tags:
            return None
        tags[name] = value
    return measurement, tags


def _plain_names(field_set: str) -> tuple[str, ...] | None:
    names = []
    for item in field_set.split(","):
        name, equals, value = item.partition("=")
        if not (name and equals and value) or "=" in value:
            return None
        names.append(name)
    return tuple(names) if len(set(names)) == len(names) else None


@functools.lru_cache(maxsize=256)
def _shape_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    """Matches a field set with exactly these keys in this order; groups are the values."""
    return re.compile(",".join(f"{re.escape(name)}=([^,=]+)" for name in names))


@functools.lru_cache(maxsize=256)
def _line_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    """Finds every line of a body whose field keys are these, in this order; groups are the
    key (measurement and tags), the values, and the timestamp ("" if none)."""
    fields = ",".join(f"{re.escape(name)}=([^,= \\n]+)" for name in names)
    return re.compile(rf"^([^ \n]+) {fields}(?: ([0-9]+))?$", re.MULTILINE)
