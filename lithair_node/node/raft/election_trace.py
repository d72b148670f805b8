"""One log line per election event, on the clock every process of the machine shares.

`election-trace t=<time.monotonic()> <event> key=value ...` (logger lithair_node.node.raft.
election_trace, INFO). time.monotonic is CLOCK_MONOTONIC, the same in every process of a
host, so a kill round can be laid out from the nodes' logs and the client's own attempt
times (lab/bench/failover_trace.py). PySyncObj's own times are on CLOCK_MONOTONIC_RAW: a
time read there is given as an age (`*_ago`), never as a point.

Only events around elections are traced (a handful of lines per election), never per append.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)
PREFIX = "election-trace"


def trace(event: str, **fields: object) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    parts = " ".join(f"{key}={_fmt(value)}" for key, value in fields.items())
    log.info("%s t=%.4f %s %s", PREFIX, time.monotonic(), event, parts)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace(" ", "_")


def parse(line: str) -> tuple[float, str, dict[str, str]] | None:
    """(t, event, fields) of a trace line, None for any other line."""
    _, found, rest = line.partition(PREFIX + " t=")
    if not found:
        return None
    words = rest.split()
    if len(words) < 2:
        return None
    try:
        at = float(words[0])
    except ValueError:
        return None
    fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
    return at, words[1], fields
