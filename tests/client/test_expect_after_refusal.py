"""ClusterClient(expect_after_refusal=True) holds a write's body back (`Expect:
100-continue`) only while a node is refusing: after a 429/503 from it, until it admits one;
steady-state writes pay no extra round trip. By default it never does. Against a small
aiohttp server that records each request's Expect header."""

from __future__ import annotations

from aiohttp import web

from lithair_node import api
from lithair_node.client.cluster_client import ACKED, FAILED, ClusterClient

READING = {"sensor_id": "s", "timestamp": 1, "temperature": 20.0}


class ScriptedNode:
    """Answers batches with the given statuses in turn (then 200), recording Expect."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.expects: list[str | None] = []

    async def post_batch(self, request: web.Request) -> web.Response:
        self.expects.append(request.headers.get("Expect"))
        await request.read()
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            return web.json_response({"accepted": 1, "duplicates": 0, "duplicate_batch": False})
        error = {"error": {"code": "x", "message": "refused", "reading": None, "field": None}}
        return web.json_response(error, status=status, headers={api.RETRY_AFTER: "0"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(api.BATCHES, self.post_batch)
        return app


async def test_expect_from_a_refusal_until_one_is_admitted(serve) -> None:
    node = ScriptedNode([429, 503, 200, 200])
    url = await serve(node)
    async with ClusterClient([url], backoff_s=0.01, deadline_s=10,
                             expect_after_refusal=True) as client:
        first = await client.post_batch([READING], key="a")
        second = await client.post_batch([READING], key="b")
    assert first.status == ACKED and [a.status for a in first.trail] == [429, 503, 200]
    assert second.status == ACKED and second.attempts == 1
    # No Expect at first; from the 429 on until the 200 admitted one; none after.
    assert node.expects == [None, "100-continue", "100-continue", None]


async def test_a_content_refusal_means_admitted(serve) -> None:
    node = ScriptedNode([429, 422])
    url = await serve(node)
    async with ClusterClient([url], backoff_s=0.01, deadline_s=10,
                             expect_after_refusal=True) as client:
        result = await client.post_batch([READING], key="c")
        assert result.status == FAILED
        assert not client.expects_continue(url)
        await client.post_batch([READING], key="d")
    assert node.expects == [None, "100-continue", None]


async def test_no_expect_by_default(serve) -> None:
    node = ScriptedNode([429, 503])
    url = await serve(node)
    async with ClusterClient([url], backoff_s=0.01, deadline_s=10) as client:
        assert (await client.post_batch([READING], key="e")).status == ACKED
    assert node.expects == [None, None, None]
