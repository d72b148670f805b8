"""Overload gets 429 with Retry-After at once, never a 5xx or a hang; nothing accepted is lost."""

from __future__ import annotations

import asyncio

import aiohttp

from lithair_node.lab.local_cluster import LocalCluster
from tests.cluster_fixtures import start_cluster
from tests.http_helpers import stats


def test_a_flood_is_refused_with_429_and_what_is_accepted_is_stored(tmp_path) -> None:
    # The pending-readings bound refuses the flood; the queue-delay bound is set well above a
    # loaded box's commit time, so a slow tick is not read as "writes are not committing"
    # (503 unavailable, which a 0.05 s bound gave under a load average of 4-9).
    cluster: LocalCluster = start_cluster(
        tmp_path, nodes=1, extra_args=("--max-pending-readings", "3000",
                                       "--max-queue-delay", "1.0"))
    url = cluster.urls[0]
    try:
        async def flood() -> list[tuple[int, dict, str | None]]:
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async def one(i: int) -> tuple[int, dict, str | None]:
                    body = {"readings": [{"sensor_id": f"flood-{i}", "timestamp": t, "t": 1.0}
                                         for t in range(1000)]}
                    async with session.post(f"{url}/api/v1/batches", json=body) as answer:
                        return answer.status, await answer.json(), answer.headers.get("Retry-After")
                return await asyncio.gather(*(one(i) for i in range(60)))

        answers = asyncio.run(flood())
        statuses = [status for status, _, _ in answers]
        assert set(statuses) <= {200, 429}, statuses
        assert statuses.count(429) > 0 and statuses.count(200) > 0
        for status, body, retry_after in answers:
            if status == 429:
                assert body["error"]["code"] == "overloaded"
                assert retry_after is not None and int(retry_after) >= 1
        accepted = sum(body["accepted"] for status, body, _ in answers if status == 200)
        assert accepted == 1000 * statuses.count(200)
        assert stats(url)["total_readings"] == accepted
        assert stats(url)["pending_readings"] == 0
    finally:
        cluster.stop()
