"""GET /api/v1/stats: this node's counters, Raft indexes, state digest and memory use."""

from __future__ import annotations

import os
import resource

from aiohttp import web

from lithair_node.node.http.bodies import json_response
from lithair_node.node.http.context import NodeContext, node_of


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


def resident_memory_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
