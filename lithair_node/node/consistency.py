"""Going through the Raft log from the event loop: proposals awaited with a timeout, and the
barrier behind `consistency=linearizable` reads.

PySyncObj has no ReadIndex. A linearizable read therefore appends a no-op `barrier` entry
and waits until this node has applied it: the barrier commits in the current leader's term,
after every entry committed before the read began, so once it is applied here the local
state reflects every write acknowledged anywhere before the read started. Reads that begin
while no barrier is being proposed share the next one (like group commit for writes);
a barrier proposed before a read began is never reused for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

from lithair_node.machine.commands import encode_barrier
from lithair_node.machine.state import ApplyResult
from lithair_node.node.errors import raft_failure
from lithair_node.node.raft.raft_node import RaftNode
from lithair_node.node.raft.types import ProposeCallback, ProposeError, ProposeFailure


async def propose_and_wait(raft: RaftNode, payload: bytes, timeout_s: float) -> ApplyResult:
    """Append `payload`; return its ApplyResult once applied on this node. Raises
    ProposeError (Raft refused or lost it) or TimeoutError."""
    result = await await_raft(lambda callback: raft.propose(payload, callback), timeout_s)
    if result is None:
        raise ProposeError(ProposeFailure.NO_ANSWER, "no result")
    return result


async def await_raft(start: Callable[[ProposeCallback], None], timeout_s: float) -> Any:
    """Run a RaftNode call taking a (result, error) callback and await that callback from the
    event loop. Raises ProposeError or TimeoutError."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: ProposeError | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def from_raft_thread(result: Any, error: ProposeError | None) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            loop.call_soon_threadsafe(settle, result, error)

    start(from_raft_thread)
    return await asyncio.wait_for(future, timeout_s)


class ReadBarrier:
    def __init__(self, raft: RaftNode, timeout_s: float) -> None:
        self._raft = raft
        self._timeout_s = timeout_s
        self._waiting: list[asyncio.Future[int]] = []
        self._scheduled = False
        self._nonces = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = {"barriers": 0, "reads": 0}

    async def wait(self) -> int:
        """Return once this node has applied a barrier proposed after the call began; the
        barrier's log index is returned. Raises a 503 error on failure or timeout."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._waiting.append(future)
        self.stats["reads"] += 1
        if not self._scheduled:
            self._scheduled = True
            task = loop.create_task(self._propose())  # runs after this loop iteration
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._timeout_s)
        except TimeoutError as exc:
            raise raft_failure(exc, "the linearizable read's barrier", read=True,
                               timeout_s=self._timeout_s) from None

    async def _propose(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        self.stats["barriers"] += 1
        try:
            result = await propose_and_wait(self._raft, encode_barrier(next(self._nonces)),
                                            3 * self._timeout_s)
        except (ProposeError, TimeoutError) as exc:
            error = raft_failure(exc, "the linearizable read's barrier", read=True,
                                 timeout_s=3 * self._timeout_s)
            for future in waiting:
                if not future.done():
                    future.set_exception(error)
                    future.exception()  # retrieved: the reader may have timed out already
            return
        for future in waiting:
            if not future.done():
                future.set_result(result.index)
