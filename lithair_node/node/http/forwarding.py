"""Requests this node passes on to the leader (leader reads, membership changes): where the
leader is, the one-hop rule, and the one ClientSession they all share (made at startup, see
lifecycle.py)."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from lithair_node import api
from lithair_node.node.errors import NoLeader
from lithair_node.node.http.context import FORWARD_SESSION, NodeContext, node_of

_NO_LEADER = "no leader known: an election is in progress or there is no quorum"


def leader_url(node: NodeContext) -> str | None:
    leader = node.raft.status().leader
    if leader is None:
        return None
    if leader == node.config.raft_address:
        return node.config.http_url
    return node.state.members().get(leader, {}).get("http")


def require_leader(node: NodeContext) -> None:
    """503 while no leader is known: nothing this node would propose can commit then."""
    if node.raft.status().leader is None:
        raise NoLeader(_NO_LEADER, retry_after=1)


def leader_target(request: web.Request, what: str) -> str:
    """The leader's URL for `what`, which this node cannot serve itself. A request that was
    forwarded here already is refused, never forwarded a second time."""
    if api.FORWARDED_HEADER in request.headers:
        raise NoLeader(f"this node was sent {what} but does not lead; retry", retry_after=1)
    target = leader_url(node_of(request))
    if target is None:
        raise NoLeader(_NO_LEADER, retry_after=1)
    return target.rstrip("/") + request.raw_path


def forward_headers(request: web.Request) -> dict[str, str]:
    """Headers of a forwarded request: which node forwarded it, and the caller's token."""
    headers = {api.FORWARDED_HEADER: node_of(request).config.node_id}
    if api.AUTHORIZATION in request.headers:
        headers[api.AUTHORIZATION] = request.headers[api.AUTHORIZATION]
    return headers


def forward_session(request: web.Request) -> aiohttp.ClientSession:
    return request.app[FORWARD_SESSION]
