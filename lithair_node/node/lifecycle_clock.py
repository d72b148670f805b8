"""The leader's lifecycle clock: while a lifecycle policy is set, the leader proposes a
small `tick` entry carrying its wall clock every --lifecycle-tick seconds. Apply ages data
by the largest clock it has applied, so a node's own clock never enters apply, and a
leader whose clock is behind a previous leader's cannot move it back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from lithair_node.machine.commands import encode_tick
from lithair_node.node.background import running
from lithair_node.node.consistency import propose_and_wait
from lithair_node.node.http.context import NODE, NodeContext
from lithair_node.node.raft.types import ProposeError

log = logging.getLogger(__name__)


def should_tick(node: NodeContext) -> bool:
    status = node.raft.status()
    return status.role == "leader" and status.ready and node.state.lifecycle().policy["rules"] != []


async def tick_forever(node: NodeContext) -> None:
    period = node.config.lifecycle_tick_s
    while True:
        await asyncio.sleep(period)  # a period, not a wait for a condition
        if not should_tick(node):
            continue
        try:
            result = await propose_and_wait(node.raft, encode_tick(time.time_ns() // 1_000_000),
                                            node.config.commit_timeout_s)
            if result.error:
                log.warning("lifecycle tick refused: %s", result.error)
        except (ProposeError, TimeoutError) as exc:  # lost leadership: the next leader ticks
            log.info("lifecycle tick not committed: %s", exc)


async def lifecycle_clock(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the tick task runs on every node and proposes only while it leads."""
    async with running(tick_forever(app[NODE]), "lifecycle-clock"):
        yield
