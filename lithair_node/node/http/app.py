"""The aiohttp application factory."""

from __future__ import annotations

from aiohttp import web

from lithair_node.node.http import (
    cluster_routes,
    consistent_reads,
    member_routes,
    query_routes,
    read_routes,
    write_routes,
)
from lithair_node.node.http.consistent_reads import consistent
from lithair_node.node.http.context import NODE, NodeContext
from lithair_node.node.http.middleware import OPEN, READ, WRITE, access, auth_middleware, error_middleware

API = "/api/v1"


def make_app(node: NodeContext) -> web.Application:
    # aiohttp refuses bigger bodies itself; our own check gives the JSON error first.
    app = web.Application(
        client_max_size=node.config.max_body_bytes,
        middlewares=[error_middleware, auth_middleware],
    )
    app[NODE] = node
    consistent_reads.setup(app, node)
    query_routes.setup(app)
    app.router.add_post(f"{API}/batches", access(WRITE, write_routes.post_batch))
    # Every data read takes ?consistency=local|leader|linearizable.
    reads = {
        "/stats": read_routes.get_stats,
        "/sensors": query_routes.get_sensors,
        "/sensors/{sensor_id}/latest": query_routes.get_sensor_latest,
        "/sensors/{sensor_id}/readings": query_routes.get_readings,
        "/sensors/{sensor_id}/stats": query_routes.get_sensor_stats,
        "/latest": query_routes.get_latest,
        "/aggregate": query_routes.get_aggregate,
        "/locations": query_routes.get_locations,
        "/anomalies": query_routes.get_anomalies,
        "/settings/anomalies": query_routes.get_anomaly_settings,
        "/export": query_routes.get_export,
    }
    for path, handler in reads.items():
        app.router.add_get(f"{API}{path}", access(READ, consistent(handler)))
    app.router.add_put(f"{API}/settings/anomalies",
                       access(WRITE, query_routes.put_anomaly_settings))
    app.router.add_get(f"{API}/cluster/status", access(READ, cluster_routes.get_cluster_status))
    app.router.add_get(f"{API}/members", access(READ, member_routes.get_members))
    app.router.add_post(f"{API}/members", access(WRITE, member_routes.post_member))
    app.router.add_delete(f"{API}/members/{{raft_address}}", access(WRITE, member_routes.delete_member))
    app.router.add_get("/health", access(OPEN, cluster_routes.get_health))
    app.router.add_get("/readyz", access(OPEN, cluster_routes.get_readyz))
    return app
