"""Statistics computed straight from the Intel Lab file with the standard library only,
to check what the node answers against (no numpy, no code shared with the node)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import datetime
from pathlib import Path

METRICS = ("temperature", "humidity", "light", "voltage")
REL = 1e-9


def parse_file(path: Path) -> list[tuple[str, int, dict[str, float]]]:
    """(mote, epoch microseconds, {metric: value}) for every line that is a reading."""
    out = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        date, clock, _seq, mote = fields[:4]
        whole, _, frac = clock.partition(".")
        moment = datetime.fromisoformat(f"{date}T{whole}+00:00")
        micros = round(moment.timestamp()) * 1_000_000 + int(frac.ljust(6, "0")[:6] or 0)
        values = {m: float(v) for m, v in zip(METRICS, fields[4:], strict=False)}
        out.append((mote, micros, values))
    return out


def per_mote_stats(rows) -> dict[str, dict[str, dict[str, float]]]:
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for mote, _, metrics in rows:
        for name, value in metrics.items():
            values[mote][name].append(value)
    return {
        mote: {
            name: {"count": len(xs), "min": min(xs), "max": max(xs),
                   "mean": math.fsum(xs) / len(xs), "stddev": statistics.stdev(xs)}
            for name, xs in metrics.items()
        }
        for mote, metrics in values.items()
    }


def hourly_means(rows, metric: str) -> dict[str, dict[int, tuple[int, float]]]:
    """mote -> {hour start in microseconds: (count, mean)}."""
    hour = 3_600_000_000
    buckets: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for mote, micros, metrics in rows:
        if metric in metrics:
            buckets[mote][micros // hour * hour].append(metrics[metric])
    return {mote: {start: (len(xs), math.fsum(xs) / len(xs)) for start, xs in by_hour.items()}
            for mote, by_hour in buckets.items()}


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=REL, abs_tol=0.0)
