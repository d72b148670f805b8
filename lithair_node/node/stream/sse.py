"""Server-Sent Events framing (the text/event-stream format) with our JSON bodies."""

from __future__ import annotations

from typing import Any

import orjson

READINGS = "readings"
ANOMALY = "anomaly"
CLUSTER = "cluster"
GAP = "gap"
KINDS = (READINGS, ANOMALY, CLUSTER)

PING = b": ping\n\n"  # a comment line: keeps proxies from closing an idle stream


def frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One event. Cluster and gap events carry no id, so the browser's Last-Event-ID stays
    the Raft index of the last entry it received."""
    head = f"id: {event_id}\nevent: {event}\n" if event_id is not None else f"event: {event}\n"
    return head.encode() + b"data: " + orjson.dumps(data) + b"\n\n"
