"""Peer discovery: from a few node URLs to every member's own view of the cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from lithair_node.client.node_api import NO_ANSWER, ApiError, NodeApi

Answer = dict[str, Any] | Exception  # a node's cluster status, or why there is none


async def survey(urls: list[str], node_at: Callable[[str], NodeApi]) -> dict[str, Answer]:
    """Ask every URL for its cluster status at once (a stopped node costs one timeout, not
    one per node), then every member the answers name that was not asked yet, until none is
    new. Every URL asked, in the order learned, with its answer."""
    answers: dict[str, Answer] = {}
    pending = list(dict.fromkeys(url.rstrip("/") for url in urls))
    while pending:
        results = await asyncio.gather(*(_ask(node_at(url)) for url in pending))
        answers.update(zip(pending, results, strict=True))
        named = (peer.get("http_url") for status in results if isinstance(status, dict)
                 for peer in status.get("peers", []))
        pending = list(dict.fromkeys(url.rstrip("/") for url in named
                                     if url and url.rstrip("/") not in answers))
    return answers


async def _ask(node: NodeApi) -> Answer:
    try:
        return await node.cluster_status()
    except (ApiError, *NO_ANSWER) as exc:
        return exc
