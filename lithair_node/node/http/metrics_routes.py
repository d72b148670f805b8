"""GET /metrics: the node's Prometheus metrics (node/metrics.py), served by prometheus-client's
aiohttp handler (text format, or OpenMetrics when the scraper asks for it; gzip on request).

Access level READ: open like /health unless a read token is set, then the scrape needs one
(Prometheus' `authorization: {credentials: ...}`), as the node's other figures do."""

from __future__ import annotations

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from lithair_node.node.http.context import METRICS


async def get_metrics(request: web.Request) -> web.Response:
    handler = make_aiohttp_handler(request.app[METRICS].registry)  # a closure: cheap
    return await handler(request)
