"""The Intel Berkeley Lab sensor format (see data/README.md).

One reading per line, space separated:
    date time epoch moteid temperature humidity light voltage
    2004-03-11 16:52:19.794238 2 55 26.2114 43.4524 97.52 3.04574
Times are UTC. Trailing metrics may be missing in the full data set; such lines keep the
metrics they have.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS = ("temperature", "humidity", "light", "voltage")


@dataclass(frozen=True)
class ParsedLine:
    line_number: int
    reading: dict[str, Any] | None  # None when the line is not a reading
    error: str | None = None


def parse_line(line: str, line_number: int = 0) -> ParsedLine:
    fields = line.split()
    if not fields:
        return ParsedLine(line_number, None, "empty line")
    if len(fields) < 5:
        return ParsedLine(line_number, None, "fewer than 5 fields")
    date, time_of_day, _epoch, mote = fields[:4]
    reading: dict[str, Any] = {"sensor_id": mote, "timestamp": f"{date}T{time_of_day}Z"}
    for name, text in zip(METRICS, fields[4:], strict=False):
        try:
            value = float(text)
        except ValueError:
            return ParsedLine(line_number, None, f"{name} is not a number: {text!r}")
        if value != value or value in (float("inf"), float("-inf")):
            return ParsedLine(line_number, None, f"{name} is not finite")
        reading[name] = value
    return ParsedLine(line_number, reading)


def iter_file(path: str | Path, start_line: int = 0) -> Iterator[ParsedLine]:
    """Parsed lines from `path`, skipping the first `start_line` lines (for resuming)."""
    with open(path, encoding="utf-8") as source:
        for number, line in enumerate(source, start=1):
            if number <= start_line:
                continue
            yield parse_line(line, number)


def read_readings(path: str | Path) -> list[dict[str, Any]]:
    """Every valid reading in the file (convenience for tests and demos)."""
    return [p.reading for p in iter_file(path) if p.reading is not None]
