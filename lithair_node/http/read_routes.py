"""Read endpoints served from this node's applied state (consistency: local)."""

from __future__ import annotations

import os
import resource

from aiohttp import web

from ..errors import NotFound
from ..timestamps import format_timestamp
from .bodies import json_response
from .context import NodeContext, node_of


async def get_stats(request: web.Request) -> web.Response:
    node = node_of(request)
    return json_response(stats_payload(node))


def stats_payload(node: NodeContext) -> dict[str, object]:
    raft = node.raft.status()
    payload: dict[str, object] = dict(node.state.stats())
    payload.update(
        node_id=node.config.node_id,
        role=raft.role,
        applied_index=raft.applied_index,
        commit_index=raft.commit_index,
        state_digest=node.state.digest(),
        memory_usage_mb=round(resident_memory_bytes() / (1024 * 1024), 1),
        pending_readings=node.proposer.pending_readings,
    )
    return payload


async def get_latest(request: web.Request) -> web.Response:
    node = node_of(request)
    sensor_id = request.match_info["sensor_id"]
    latest = node.state.latest(sensor_id)
    if latest is None:
        raise NotFound(f"unknown sensor {sensor_id!r}", field="sensor_id")
    body = {
        "sensor_id": latest["sensor_id"],
        "timestamp": format_timestamp(latest["timestamp_us"]),
        "timestamp_us": latest["timestamp_us"],
        "location": latest["location"],
        "values": latest["values"],
    }
    return json_response(body, headers=applied_index_header(node))


def applied_index_header(node: NodeContext) -> dict[str, str]:
    # The state's own index: Raft's status is sampled and may trail what a read just saw.
    return {"X-Lithair-Applied-Index": str(node.state.applied_index)}


def resident_memory_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
