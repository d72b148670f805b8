"""Line protocol, piece by piece: field values, timestamps, and the exact scanner of one line.

line_protocol.py proves most of a body well formed a whole column at a time; what it cannot
prove comes here, which is slower, handles every escape, and words every error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from lithair_node.node.errors import BadRequest

FieldValue = float | int | bool | str

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_UINT64_MAX = 2**64 - 1
_INF = float("inf")
_BOOLEANS = {
    **dict.fromkeys(("t", "T", "true", "True", "TRUE"), True),
    **dict.fromkeys(("f", "F", "false", "False", "FALSE"), False),
}
# [0-9], not \d: \d, int() and float() accept non-ASCII digits; InfluxDB does not.
_FLOAT = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+i")
_UNSIGNED = re.compile(r"[0-9]+u")
_TIMESTAMP = re.compile(r"-?[0-9]+")
# Deletes the characters of a float literal: what is left means float() may have taken
# something InfluxDB refuses (nan, inf, 1_0, whitespace, an `i` or `u` suffix...).
_FLOAT_CHARS = str.maketrans("", "", "0123456789.-+eE")
_MEASUREMENT_ESCAPES = frozenset(", \\")
_KEY_ESCAPES = frozenset(",= \\")
_STRING_ESCAPES = frozenset('"\\')


class LineProtocolError(BadRequest):
    """A body that is not valid line protocol, or that Lithair cannot store: `line` is the
    1-based line at fault (None: the whole request). Always a 400, as in InfluxDB."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line


class Point(NamedTuple):
    line: int  # 1-based
    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    timestamp_ns: int


def value_column(raw: Sequence[str], lines: Sequence[int]) -> list[FieldValue]:
    """The values of one field over many lines (unquoted texts), or the first error."""
    try:
        floats = list(map(float, raw))
    except ValueError:
        floats = None
    if floats is not None:
        joined = "".join(raw)
        if not joined.translate(_FLOAT_CHARS) and "+" not in joined and _INF not in floats \
                and -_INF not in floats:
            return floats  # type: ignore[return-value]
    return [scalar_value(text, line) for text, line in zip(raw, lines, strict=True)]


def scalar_value(raw: str, line: int, field: str | None = None) -> FieldValue:
    """One unquoted field value: a float, `12i`, `12u` or a boolean."""
    boolean = _BOOLEANS.get(raw)
    if boolean is not None:
        return boolean
    if _INTEGER.fullmatch(raw):
        number = int(raw[:-1])
        if not INT64_MIN <= number <= INT64_MAX:
            raise LineProtocolError(f"unable to parse integer {raw}: value out of range", line=line)
        return number
    if _UNSIGNED.fullmatch(raw):
        number = int(raw[:-1])
        if number > _UINT64_MAX:
            raise LineProtocolError(f"unable to parse unsigned {raw}: value out of range", line=line)
        return number
    if _FLOAT.fullmatch(raw):
        value = float(raw)
        if value in (_INF, -_INF):
            raise LineProtocolError(f"unable to parse float {raw}: value out of range", line=line)
        return value
    kind = "boolean" if raw[:1].isalpha() else "number"
    where = "" if field is None else f" for field {field!r}"
    raise LineProtocolError(f"invalid {kind} {raw!r}{where}", line=line)


def timestamp_ns(raw: str, unit_ns: int, line: int) -> int:
    if not _TIMESTAMP.fullmatch(raw):
        raise LineProtocolError(f"bad timestamp {raw!r}", line=line)
    stamp = int(raw)
    if not INT64_MIN <= stamp <= INT64_MAX:
        raise LineProtocolError(f"bad timestamp {raw}: beyond the int64 range", line=line)
    return stamp * unit_ns


class ExactLine:
    """A character scanner for one line: every escape, quoted strings, worded errors."""

    def __init__(self, text: str, number: int) -> None:
        self.text = text[:-1] if text.endswith("\r") else text
        self.number = number
        self.pos = 0

    def point(self, unit_ns: int, received_ns: int) -> Point | None:
        """The line's point, None for a blank or comment line, or LineProtocolError."""
        text = self.text
        self.pos = len(text) - len(text.lstrip(" \t"))
        if self.pos == len(text) or text[self.pos] == "#":
            return None
        measurement = self._token(_MEASUREMENT_ESCAPES, ", ")
        if not measurement:
            raise self._fail("missing measurement")
        tags = self._tags()
        if not self._skip_spaces():
            raise self._fail("missing fields")
        fields = self._fields()
        stamp = received_ns
        if self._skip_spaces():
            stamp = timestamp_ns(text[self.pos:].rstrip(" "), unit_ns, self.number)
        return Point(self.number, measurement, tags, fields, stamp)

    def _fail(self, message: str) -> LineProtocolError:
        excerpt = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        return LineProtocolError(f"{message}: {excerpt!r}", line=self.number)

    def _at(self, char: str) -> bool:
        return self.pos < len(self.text) and self.text[self.pos] == char

    def _skip_spaces(self) -> bool:
        """Skip spaces; True if they were there and something follows them."""
        start = self.pos
        while self._at(" "):
            self.pos += 1
        return start < self.pos < len(self.text)

    def _token(self, escapes: frozenset[str], stops: str) -> str:
        """The characters up to an unescaped stop character, unescaped."""
        text, pos, end = self.text, self.pos, len(self.text)
        out: list[str] = []
        while pos < end:
            char = text[pos]
            if char == "\\" and pos + 1 < end and text[pos + 1] in escapes:
                out.append(text[pos + 1])
                pos += 2
                continue
            if char in stops:
                break
            out.append(char)
            pos += 1
        self.pos = pos
        return "".join(out)

    def _tags(self) -> dict[str, str]:
        tags: dict[str, str] = {}
        while self._at(","):
            self.pos += 1
            key = self._token(_KEY_ESCAPES, ",= ")
            if not key:
                raise self._fail("missing tag key")
            if not self._at("="):
                raise self._fail("missing tag value")
            self.pos += 1
            value = self._token(_KEY_ESCAPES, ",= ")
            if not value:
                raise self._fail("missing tag value")
            if self._at("="):
                raise self._fail("invalid tag format")
            if key in tags:
                raise self._fail(f"duplicate tags: {key!r}")
            tags[key] = value
        return tags

    def _fields(self) -> dict[str, FieldValue]:
        fields: dict[str, FieldValue] = {}
        while True:
            key = self._token(_KEY_ESCAPES, ",= ")
            if not key:
                raise self._fail("missing field key")
            if not self._at("="):
                raise self._fail(f"missing field value for {key!r}")
            self.pos += 1
            fields[key] = self._string() if self._at('"') else self._scalar(key)
            if not self._at(","):
                break
            self.pos += 1
        if self.pos < len(self.text) and not self._at(" "):
            raise self._fail("invalid field format")
        return fields

    def _string(self) -> str:
        text, pos, end = self.text, self.pos + 1, len(self.text)
        out: list[str] = []
        while pos < end:
            char = text[pos]
            if char == "\\" and pos + 1 < end and text[pos + 1] in _STRING_ESCAPES:
                out.append(text[pos + 1])
                pos += 2
                continue
            if char == '"':
                self.pos = pos + 1
                return "".join(out)
            out.append(char)
            pos += 1
        raise self._fail("unbalanced quotes")

    def _scalar(self, key: str) -> FieldValue:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ", ":
            self.pos += 1
        raw = self.text[start:self.pos]
        if not raw:
            raise self._fail(f"missing field value for {key!r}")
        return scalar_value(raw, self.number, key)
