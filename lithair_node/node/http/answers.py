"""How a read answers: its JSON payload carries the applied index it was computed at (also in
the X-Lithair-* headers, see consistent_reads.py), and ranged reads say the range they cover."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lithair_node.node.http.bodies import json_response
from lithair_node.node.http.consistent_reads import read_headers
from lithair_node.node.timestamps import MAX_US, MIN_US, format_timestamp


def answer(request: web.Request, payload: dict[str, Any], applied_index: int) -> web.Response:
    payload["applied_index"] = applied_index
    return json_response(payload, headers=read_headers(request, applied_index))


def range_fields(start: int, end: int) -> dict[str, str | None]:
    """`from` and `to` as RFC 3339, null where the range is open."""
    return {"from": None if start <= MIN_US else format_timestamp(start),
            "to": None if end > MAX_US else format_timestamp(end)}
