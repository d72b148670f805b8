"""A node's background tasks: started with the application, cancelled and awaited with it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait until it has ended (None: nothing to stop)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def running(coro: Coroutine[Any, Any, None], name: str) -> AsyncIterator[asyncio.Task[None]]:
    """`coro` as a task for the body of the `async with` (an aiohttp cleanup_ctx's life)."""
    task = asyncio.create_task(coro, name=name)
    try:
        yield task
    finally:
        await stop_task(task)
