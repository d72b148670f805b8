"""This node's view of the cluster: /api/v1/cluster/status, /health, /readyz."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from lithair_node.node.http.bodies import json_response
from lithair_node.node.http.context import NodeContext, node_of
from lithair_node.node.http.stats_routes import resident_memory_bytes

# A status sample older than this means the Raft thread is stuck.
STALE_STATUS_S = 3.0


def cluster_status(node: NodeContext) -> dict[str, Any]:
    raft = node.raft.status()
    members = node.state.members()
    config = node.config

    def describe(address: str | None) -> dict[str, Any] | None:
        if address is None:
            return None
        if address == config.raft_address:
            return {"raft_address": address, "node_id": config.node_id, "http_url": config.http_url}
        info = members.get(address, {})
        return {"raft_address": address, "node_id": info.get("node_id"),
                "http_url": info.get("http")}

    peers = []
    for peer in raft.peers:
        entry = describe(peer.raft_address) or {}
        entry.update(connected=peer.connected, match_index=peer.match_index,
                     next_index=peer.next_index)
        peers.append(entry)
    stats = node.state.stats()
    return {
        "node_id": config.node_id,
        "raft_address": config.raft_address,
        "http_url": config.http_url,
        "role": raft.role,
        "leader": describe(raft.leader),
        "term": raft.term,
        "commit_index": raft.commit_index,
        "applied_index": raft.applied_index,
        "leader_commit_index": raft.leader_commit_index,
        "log_length": raft.log_length,
        "has_quorum": raft.has_quorum,
        "ready": raft.ready,
        "peers": peers,
        "leader_changes": raft.leader_changes,
        "longest_tick_ms": raft.longest_tick_ms,
        "tick_stalls": raft.tick_stalls,
        "resends_avoided": raft.resends_avoided,
        "entries_received_again": raft.entries_received_again,
        "snapshot": raft.snapshot,
        "durability": str(config.durability),
        "journal": node.raft.journal_status(),
        "total_readings": stats["total_readings"],
        "state_digest": node.state.digest(),
        "pending_readings": node.proposer.pending_readings,
        "memory_usage_mb": round(resident_memory_bytes() / (1024 * 1024), 1),
        "uptime_s": round(time.time() - node.started_at, 1),
    }


async def get_cluster_status(request: web.Request) -> web.Response:
    return json_response(cluster_status(node_of(request)))


async def get_health(request: web.Request) -> web.Response:
    node = node_of(request)
    return json_response({"status": "ok", "node_id": node.config.node_id})


def readiness_checks(node: NodeContext) -> list[dict[str, Any]]:
    raft = node.raft.status()
    age = time.monotonic() - raft.sampled_at if raft.sampled_at else None
    return [
        {"name": "raft", "ok": age is not None and age < STALE_STATUS_S,
         "detail": "ticking" if age is not None and age < STALE_STATUS_S else "not ticking"},
        {"name": "leader", "ok": raft.leader is not None,
         "detail": raft.leader or "no leader known"},
        {"name": "applied", "ok": raft.ready and raft.applied_index >= raft.commit_index,
         "detail": f"applied {raft.applied_index} of commit {raft.commit_index}"},
    ]


async def get_readyz(request: web.Request) -> web.Response:
    node = node_of(request)
    checks = readiness_checks(node)
    ready = all(check["ok"] for check in checks)
    return json_response({"ready": ready, "node_id": node.config.node_id, "checks": checks},
                         status=200 if ready else 503)
