"""ClusterClient honours Retry-After: a refused batch is not retried sooner than the node
asked, and never past the batch's deadline. Against a real (small) aiohttp server."""

from __future__ import annotations

import time

from aiohttp import web

from lithair_node import api
from lithair_node.client.cluster_client import ACKED, FAILED, ClusterClient

READING = {"sensor_id": "s", "timestamp": 1, "temperature": 20.0}


class RefusingNode:
    """Answers the first `refusals` batches 429 with `Retry-After: 1`, then 200; records
    when each batch arrived."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.arrivals: list[float] = []

    async def post_batch(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.monotonic())
        await request.read()
        if len(self.arrivals) <= self.refusals:
            error = {"error": {"code": api.OVERLOADED, "message": "too busy, come back later"}}
            return web.json_response(error, status=429, headers={api.RETRY_AFTER: "1"})
        return web.json_response({"accepted": 1, "duplicates": 0, "duplicate_batch": False})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(api.BATCHES, self.post_batch)
        return app


async def test_a_429_is_retried_no_sooner_than_its_retry_after(serve) -> None:
    node = RefusingNode(refusals=1)
    url = await serve(node)
    async with ClusterClient([url], deadline_s=10) as client:
        result = await client.post_batch([READING], key="retry-after")
    assert result.status == ACKED, result.history
    assert [attempt.status for attempt in result.trail] == [429, 200]
    assert len(node.arrivals) == 2
    assert node.arrivals[1] - node.arrivals[0] >= 1.0, node.arrivals


async def test_retry_after_never_outlasts_the_batch_deadline(serve) -> None:
    node = RefusingNode(refusals=10)
    url = await serve(node)
    async with ClusterClient([url], deadline_s=0.3) as client:
        result = await client.post_batch([READING], key="short-deadline")
    assert result.status == FAILED
    assert result.attempts == 1 and len(node.arrivals) == 1
    assert result.error == f"429 {api.OVERLOADED}"
    assert 0.3 <= result.latency_s < 1.0, result.latency_s
