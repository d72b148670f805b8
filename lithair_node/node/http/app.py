"""The aiohttp application factory: the route table, the middlewares, and what starts and
stops with the application (lifecycle.py)."""

from __future__ import annotations

from aiohttp import web

from lithair_node import api
from lithair_node.node.coldtier.mover import cold_mover
from lithair_node.node.config import NodeConfig
from lithair_node.node.http import (
    aggregate_routes,
    anomaly_routes,
    backup_routes,
    cluster_routes,
    dashboard_routes,
    docs_routes,
    export_routes,
    influx_routes,
    lifecycle_routes,
    member_routes,
    metrics_routes,
    reading_routes,
    sensor_routes,
    stats_routes,
    stream_routes,
    unmatched,
    write_routes,
)
from lithair_node.node.http.consistent_reads import consistent
from lithair_node.node.http.expect import deferred_continue
from lithair_node.node.http.lifecycle import forwarding_session, live_views, replica
from lithair_node.node.http.middleware import (
    OPEN,
    READ,
    WRITE,
    access,
    auth_middleware,
    error_middleware,
    metrics_middleware,
)
from lithair_node.node.http.selection import SENSOR_DIRECTORY
from lithair_node.node.lifecycle_clock import lifecycle_clock
from lithair_node.node.queries.sensors import SensorDirectory

# Every data read takes ?consistency=local|leader|linearizable.
_READS = (
    (api.STATS, stats_routes.get_stats),
    (api.SENSORS, sensor_routes.get_sensors),
    (api.SENSOR_LATEST, sensor_routes.get_sensor_latest),
    (api.SENSOR_READINGS, reading_routes.get_readings),
    (api.SENSOR_STATS, reading_routes.get_sensor_stats),
    (api.LATEST, sensor_routes.get_latest),
    (api.AGGREGATE, aggregate_routes.get_aggregate),
    (api.LOCATIONS, sensor_routes.get_locations),
    (api.ANOMALIES, anomaly_routes.get_anomalies),
    (api.ANOMALY_SETTINGS, anomaly_routes.get_anomaly_settings),
    (api.EXPORT, export_routes.get_export),
    (api.LIFECYCLE_SETTINGS, lifecycle_routes.get_lifecycle),
)


def _any_segment(path: str) -> str:
    """aiohttp's plain `{sensor_id}` refuses a segment holding `{` or `}`; any accepted id must
    be routable, so the id is any one (percent-decoded) path segment."""
    return path.replace("{sensor_id}", "{sensor_id:[^/]+}")


# A connection's body buffer pauses reading from the socket past 2 x read_bufsize (aiohttp's
# default, 64 KiB, pauses on every 1,000-reading batch, ~175 KB) and resumes once drained: two
# epoll changes and more, smaller reads per body. Bodies up to 2 MiB now arrive, or are
# drained after a refusal, without a pause (measured: a refused 175 KB request costs ~150 ->
# ~100 us of CPU). The whole body is buffered either way (request.read()), within
# --max-body-bytes.
READ_BUFSIZE = 1 << 20


def make_app(config: NodeConfig) -> web.Application:
    # aiohttp refuses bigger bodies itself; our own check gives the JSON error first.
    app = web.Application(
        client_max_size=config.max_body_bytes,
        middlewares=[metrics_middleware, error_middleware, auth_middleware],
        handler_args={"read_bufsize": READ_BUFSIZE},
    )
    app.cleanup_ctx.extend([replica(config), forwarding_session, live_views, lifecycle_clock,
                            cold_mover])
    app[SENSOR_DIRECTORY] = SensorDirectory()
    app.add_routes(_continue_when_read([
        web.post(api.BATCHES, access(WRITE, write_routes.post_batch)),
        *(web.get(_any_segment(path), access(READ, consistent(handler)))
          for path, handler in _READS),
        web.put(api.ANOMALY_SETTINGS, access(WRITE, anomaly_routes.put_anomaly_settings)),
        web.put(api.LIFECYCLE_SETTINGS, access(WRITE, lifecycle_routes.put_lifecycle)),
        # An admin route (the whole state): the write token.
        web.get(api.BACKUP, access(WRITE, consistent(backup_routes.get_backup))),
        web.get(api.CLUSTER_STATUS, access(READ, cluster_routes.get_cluster_status)),
        web.get(api.MEMBERS, access(READ, member_routes.get_members)),
        web.post(api.MEMBERS, access(WRITE, member_routes.post_member)),
        web.delete(api.MEMBER, access(WRITE, member_routes.delete_member)),
        web.get(api.HEALTH, access(OPEN, cluster_routes.get_health)),
        web.get(api.READYZ, access(OPEN, cluster_routes.get_readyz)),
        web.post(api.INFLUX_V2_WRITE, access(WRITE, influx_routes.post_v2_write)),
        web.post(api.INFLUX_V1_WRITE, access(WRITE, influx_routes.post_v1_write)),
        web.get(api.METRICS, access(READ, metrics_routes.get_metrics)),
        web.get(api.OPENAPI, access(OPEN, docs_routes.get_openapi)),
        web.get(api.DOCS, access(OPEN, docs_routes.get_docs)),
        web.get(api.STREAM, access(READ, stream_routes.get_stream)),
        web.get(api.STREAM_CLIENTS, access(READ, stream_routes.get_stream_clients)),
        web.get(api.INGEST_HISTORY, access(READ, dashboard_routes.get_ingest_history)),
        web.get(api.CLUSTER_NODES, access(READ, dashboard_routes.get_cluster_nodes)),
        # The page and its files hold no data: open, so that it can ask for a read token.
        web.get("/", access(OPEN, dashboard_routes.get_dashboard)),
        web.get(api.DASHBOARD, access(OPEN, dashboard_routes.get_dashboard)),
        web.get(api.DASHBOARD_STATIC + "/{name}", access(OPEN, dashboard_routes.get_static)),
        # Last: what no route above takes, as 404/405 in the error shape (unmatched.py).
        web.route("*", unmatched.PATH, access(READ, unmatched.unmatched), name=unmatched.NAME),
    ]))
    return app


def _continue_when_read(routes: list[web.RouteDef]) -> list[web.RouteDef]:
    """Every route answers `Expect: 100-continue` only once it reads the body (expect.py)."""
    return [web.RouteDef(r.method, r.path, r.handler, {**r.kwargs, "expect_handler": deferred_continue})
            for r in routes]
