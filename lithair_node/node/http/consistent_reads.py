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

from lithair_node import api
from lithair_node.node.errors import InvalidParameter, Starting, Unavailable
from lithair_node.node.http.context import READ_BARRIER, node_of
from lithair_node.node.http.forwarding import forward_headers, forward_session, leader_target
from lithair_node.node.http.middleware import Handler

log = logging.getLogger(__name__)

_PASSED_HEADERS = ("Content-Type", "Content-Disposition", "Content-Encoding", api.RETRY_AFTER,
                   api.APPLIED_INDEX_HEADER, api.CONSISTENCY_HEADER, api.NODE_HEADER)
_LEVEL_KEY = "lithair_consistency"
_FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=2.0, sock_read=60.0)
_FORWARD_CHUNK_BYTES = 256 * 1024


def level_of(request: web.Request) -> str:
    return request.get(_LEVEL_KEY, "local")


def read_headers(request: web.Request, applied_index: int) -> dict[str, str]:
    return {
        api.APPLIED_INDEX_HEADER: str(applied_index),
        api.CONSISTENCY_HEADER: level_of(request),
        api.NODE_HEADER: node_of(request).config.node_id,
    }


def consistent(handler: Handler) -> Handler:
    """Wrap a read handler with the consistency levels."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        level = request.query.get("consistency") or "local"
        if level not in api.CONSISTENCY_LEVELS:
            raise InvalidParameter(f"consistency must be one of {', '.join(api.CONSISTENCY_LEVELS)}",
                                   field="consistency")
        request[_LEVEL_KEY] = level
        node = node_of(request)
        if level == "leader" and not node.raft.status().is_leader:
            return await _forward(request)
        if not node.raft.status().ready:
            # Until it has caught up with the leader's commit index once, a restarted node's
            # state may be older than what it served before it stopped: reads stay monotonic.
            raise Starting("this node is still catching up after a start; retry or ask "
                           "another node", retry_after=1)
        if level == "linearizable":
            await request.app[READ_BARRIER].wait()
        # A lower bound of what the handler will see, for handlers that do not say.
        floor = node.state.applied_index
        response = await handler(request)
        if not response.prepared:
            for name, value in read_headers(request, floor).items():
                response.headers.setdefault(name, value)
        return response

    return wrapped


async def _forward(request: web.Request) -> web.StreamResponse:
    url = leader_target(request, "a leader read")
    response: web.StreamResponse | None = None
    try:
        async with forward_session(request).get(
            url, headers=forward_headers(request), allow_redirects=False,
            timeout=_FORWARD_TIMEOUT,
        ) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for name in _PASSED_HEADERS:
                if name in upstream.headers:
                    response.headers[name] = upstream.headers[name]
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(_FORWARD_CHUNK_BYTES):
                await response.write(chunk)
            await response.write_eof()
            return response
    except (aiohttp.ClientError, TimeoutError) as exc:
        if response is None or not response.prepared:
            raise Unavailable(f"the leader at {url} did not answer: {exc}",
                              retry_after=1) from None
        # Headers are gone already: cut the connection so the client sees a truncated body.
        log.warning("leader read forwarded to %s broke off: %s", url, exc)
        if request.transport is not None:
            request.transport.close()
        return response
