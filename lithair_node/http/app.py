"""The aiohttp application factory."""

from __future__ import annotations

from aiohttp import web

from . import cluster_routes, read_routes, write_routes
from .context import NODE, NodeContext
from .middleware import OPEN, READ, WRITE, access, auth_middleware, error_middleware

API = "/api/v1"


def make_app(node: NodeContext) -> web.Application:
    # aiohttp refuses bigger bodies itself; our own check gives the JSON error first.
    app = web.Application(
        client_max_size=node.config.max_body_bytes,
        middlewares=[error_middleware, auth_middleware],
    )
    app[NODE] = node
    app.router.add_post(f"{API}/batches", access(WRITE, write_routes.post_batch))
    app.router.add_get(f"{API}/stats", access(READ, read_routes.get_stats))
    app.router.add_get(f"{API}/sensors/{{sensor_id}}/latest", access(READ, read_routes.get_latest))
    app.router.add_get(f"{API}/cluster/status", access(READ, cluster_routes.get_cluster_status))
    app.router.add_get("/health", access(OPEN, cluster_routes.get_health))
    app.router.add_get("/readyz", access(OPEN, cluster_routes.get_readyz))
    return app
