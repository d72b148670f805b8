"""`?consistency=local|leader|linearizable` for every read route.

- local (default): this node's applied state.
- leader: served here if this node believes it leads, else forwarded to the leader's HTTP
  URL (learnt from the replicated member list) and streamed back. A forwarded request
  that lands on a node which no longer leads is refused (503), never forwarded again.
- linearizable: a read barrier through the Raft log (see consistency.py), then local.

Every answer says which node served it, at which level, and the applied index the answer
was computed at (X-Lithair-Applied-Index; JSON answers also carry it as `applied_index`).
"""

from __future__ import annotations

import functools
import logging

import aiohttp
from aiohttp import web

from lithair_node.node.consistency import ReadBarrier
from lithair_node.node.errors import InvalidParameter, NoLeader, Starting, Unavailable
from lithair_node.node.http.context import NodeContext, node_of
from lithair_node.node.http.middleware import Handler

log = logging.getLogger(__name__)

LEVELS = ("local", "leader", "linearizable")
FORWARDED_HEADER = "X-Lithair-Forwarded-By"
_PASSED_HEADERS = ("Content-Type", "Content-Disposition", "Retry-After", "X-Lithair-Applied-Index",
                   "X-Lithair-Consistency", "X-Lithair-Node")
_LEVEL_KEY = "lithair_consistency"

_BARRIER = web.AppKey("read_barrier", ReadBarrier)
_SESSION = web.AppKey("forward_session", aiohttp.ClientSession)


def setup(app: web.Application, node: NodeContext) -> None:
    app[_BARRIER] = ReadBarrier(node.raft, node.config.commit_timeout_s)

    async def close_session(app: web.Application) -> None:
        session = app.get(_SESSION)
        if session is not None:
            await session.close()

    app.on_cleanup.append(close_session)


def level_of(request: web.Request) -> str:
    return request.get(_LEVEL_KEY, "local")


def read_headers(request: web.Request, applied_index: int) -> dict[str, str]:
    return {
        "X-Lithair-Applied-Index": str(applied_index),
        "X-Lithair-Consistency": level_of(request),
        "X-Lithair-Node": node_of(request).config.node_id,
    }


def consistent(handler: Handler) -> Handler:
    """Wrap a read handler with the consistency levels."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        level = request.query.get("consistency") or "local"
        if level not in LEVELS:
            raise InvalidParameter(f"consistency must be one of {', '.join(LEVELS)}",
                                   field="consistency")
        request[_LEVEL_KEY] = level
        node = node_of(request)
        if level == "leader" and not node.raft.status().is_leader:
            if FORWARDED_HEADER in request.headers:
                raise NoLeader("this node was sent a leader read but no longer leads; retry",
                               retry_after=1)
            return await _forward(request, node)
        if not node.raft.status().ready:
            # Until it has caught up with the leader's commit index once, a restarted node's
            # state may be older than what it served before it stopped: reads stay monotonic.
            raise Starting("this node is still catching up after a start; retry or ask "
                           "another node", retry_after=1)
        if level == "linearizable":
            await request.app[_BARRIER].wait()
        # A lower bound of what the handler will see, for handlers that do not say.
        floor = node.state.applied_index
        response = await handler(request)
        if not response.prepared:
            response.headers.setdefault("X-Lithair-Applied-Index", str(floor))
            response.headers.setdefault("X-Lithair-Consistency", level)
            response.headers.setdefault("X-Lithair-Node", node.config.node_id)
        return response

    return wrapped


def leader_url(node: NodeContext) -> str | None:
    leader = node.raft.status().leader
    if leader is None:
        return None
    if leader == node.config.raft_address:
        return node.config.http_url
    return node.state.members().get(leader, {}).get("http")


def _session(app: web.Application) -> aiohttp.ClientSession:
    session = app.get(_SESSION)
    if session is None:
        session = aiohttp.ClientSession(auto_decompress=False)
        app[_SESSION] = session
    return session


async def _forward(request: web.Request, node: NodeContext) -> web.StreamResponse:
    target = leader_url(node)
    if target is None:
        raise NoLeader("no leader known: an election is in progress or there is no quorum",
                       retry_after=1)
    headers = {FORWARDED_HEADER: node.config.node_id}
    if "Authorization" in request.headers:
        headers["Authorization"] = request.headers["Authorization"]
    url = target.rstrip("/") + request.raw_path
    response: web.StreamResponse | None = None
    try:
        async with _session(request.app).get(
            url, headers=headers, allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=2.0, sock_read=60.0),
        ) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for name in _PASSED_HEADERS:
                if name in upstream.headers:
                    response.headers[name] = upstream.headers[name]
            if "Content-Encoding" in upstream.headers:
                response.headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(256 * 1024):
                await response.write(chunk)
            await response.write_eof()
            return response
    except (aiohttp.ClientError, TimeoutError) as exc:
        if response is None or not response.prepared:
            raise Unavailable(f"the leader at {target} did not answer: {exc}",
                              retry_after=1) from None
        # Headers are gone already: cut the connection so the client sees a truncated body.
        log.warning("leader read forwarded to %s broke off: %s", target, exc)
        if request.transport is not None:
            request.transport.close()
        return response
