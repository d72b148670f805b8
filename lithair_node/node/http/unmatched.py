"""The last route: every request no other route matches (an unknown path, or a known path
with a method it does not take) gets the one JSON error shape, 404 or 405 with Allow.

aiohttp answers those itself through a system route whose expect handler is its own: an
unknown path with `Expect: banana` got a plain-text 417 before any middleware ran, and one
with `Expect: 100-continue` got its 100 before its 404. As a real route, it takes the
node's expect handler (expect.py) and its middlewares like every other route.
"""

from __future__ import annotations

from aiohttp import web

from lithair_node.node.errors import MethodNotAllowed, NotFound

PATH = "/{unmatched_path:.*}"
NAME = "unmatched"  # also its route label in the metrics (never the raw path)


async def unmatched(request: web.Request) -> web.StreamResponse:
    """404, or 405 naming the methods the path takes (the router resolves resources in
    order, so this route, added last, only sees what no other route took)."""
    allowed: set[str] = set()
    this = request.match_info.route.resource
    for resource in request.app.router.resources():
        if resource is not this:
            _, methods = await resource.resolve(request)
            allowed |= methods
    if allowed:
        raise MethodNotAllowed(f"method not allowed: {request.method} {request.path} "
                               f"takes {', '.join(sorted(allowed))}",
                               allow=tuple(sorted(allowed)))
    raise NotFound("no such route")


def is_unmatched(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    return resource is not None and resource.name == NAME
