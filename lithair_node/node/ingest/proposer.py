"""Group commit: client batches waiting on this node are packed into one log entry.

Each HTTP request hands its validated batch to `submit()` and awaits the result of applying
it. Batches queue here while up to `max_in_flight` entries are being replicated; when an
entry finishes, everything that queued meanwhile goes out as the next entry. Under light
load a batch is proposed alone at once; under heavy load entries grow and the per-entry
cost of Raft (pickle, encryption, one append per follower) is shared.

Bounded everywhere: a new batch is refused at once (429 + Retry-After) past saturation, i.e.
when the oldest batch waiting here has waited longer than `max_queue_delay_s` *and* more
readings wait than this node commits in `max_queue_delay_s` (so accepted writes keep a
bounded latency whatever the offered load, a passing stall of apply or fsync under a
modest load is not read as overload, and the node spends no CPU on work it would only
queue), or when more than `max_pending_readings` wait; and a caller waits at most
`commit_timeout_s` (then 503 "outcome unknown": the batch may still commit, and a retry
with the same Idempotency-Key is safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial

from lithair_node.machine.commands import EncodedBatch, MetricLimits, encode_ingest
from lithair_node.machine.entries import ApplyResult, BatchOutcome
from lithair_node.machine.ingest import TOO_MANY_METRICS
from lithair_node.node.background import stop_task
from lithair_node.node.errors import (
    IdempotencyKeyReused,
    InternalError,
    NoLeader,
    Overloaded,
    TooManyMetrics,
    Unavailable,
    raft_failure,
)
from lithair_node.node.ingest.drain_rate import DrainRate
from lithair_node.node.raft.raft_node import RaftNode
from lithair_node.node.raft.types import ProposeError, ProposeFailure


@dataclass
class _Waiting:
    batch: EncodedBatch
    future: asyncio.Future[BatchOutcome]
    queued_at: float


@dataclass
class _InFlight:
    items: list[_Waiting]
    readings: int
    expires_at: float


@dataclass(frozen=True)
class ProposerLimits:
    max_entry_bytes: int = 16 * 1024 * 1024
    max_in_flight: int = 4
    max_pending_readings: int = 200_000
    max_queue_delay_s: float = 0.5
    commit_timeout_s: float = 5.0
    # Written into every entry: apply judges each batch by the limits of the node it reached.
    metric_limits: MetricLimits = field(default_factory=MetricLimits)


class Proposer:
    def __init__(self, raft: RaftNode, limits: ProposerLimits) -> None:
        self._raft = raft
        self._limits = limits
        self._queue: deque[_Waiting] = deque()
        self._in_flight: dict[int, _InFlight] = {}
        self._ids = itertools.count(1)
        self._pending_readings = 0  # queued + in flight
        self._last_progress = time.monotonic()  # an entry finished, or nothing was waiting
        self._rate = DrainRate()
        self._flush_scheduled = False
        self._holds = 0  # held(): no new entries while above 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reaper: asyncio.Task[None] | None = None
        # "failed": entries Raft refused, lost or did not commit (lithair_raft_proposals_failed_total).
        self.stats = {"entries": 0, "batches": 0, "rejected_overload": 0, "timeouts": 0, "failed": 0}

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._reaper = asyncio.create_task(self._reap_forever())

    async def stop(self) -> None:
        await stop_task(self._reaper)

    @property
    def pending_readings(self) -> int:
        return self._pending_readings

    @property
    def pending_batches(self) -> int:
        """Client batches waiting on this node: queued, or in an entry being replicated."""
        return len(self._queue) + sum(len(flight.items) for flight in self._in_flight.values())

    def oldest_wait_s(self) -> float:
        """How long the oldest batch still waiting on this node has waited."""
        if self._in_flight:
            oldest = next(iter(self._in_flight.values())).items[0].queued_at
        elif self._queue:
            oldest = self._queue[0].queued_at
        else:
            return 0.0
        return time.monotonic() - oldest

    def check_admission(self, readings: int = 0, before_body: bool = True) -> None:
        """Refuse new work (429) when this node is behind: called before a request body is
        read, and again with the batch's size before it is queued. The queue-delay bound is
        judged before the body only, so that a refusal for it never follows a decode."""
        if self._raft.status().leader is None:
            raise NoLeader("no leader: an election is in progress or there is no quorum",
                           retry_after=1)
        delay = self._limits.max_queue_delay_s
        waited = self.oldest_wait_s()
        if waited > delay and before_body:
            now = time.monotonic()
            if now - self._last_progress > max(delay, _STALL_S):
                # Nothing has committed for a while: the cluster, not the client, is the
                # problem (e.g. a leader cut off from its followers before it steps down).
                raise Unavailable(f"writes are not committing (the oldest has waited "
                                  f"{waited:.2f} s): is a majority reachable?", retry_after=1)
            # Little's law: a queue this node drains within `delay` is not overload, only a
            # slow entry (a closed loop of N in flight never queues more than N batches).
            drains = self._rate.per_s(now) * delay
            if self._pending_readings + readings > drains:
                self.stats["rejected_overload"] += 1
                raise Overloaded(f"this node is behind: the oldest write waiting to commit has "
                                 f"waited {waited:.2f} s", retry_after=1)
        if self._pending_readings + readings > self._limits.max_pending_readings:
            self.stats["rejected_overload"] += 1
            raise Overloaded(
                f"{self._pending_readings} readings are already waiting to commit on this node",
                retry_after=1,
            )

    async def submit(self, batch: EncodedBatch) -> BatchOutcome:
        """Replicate one batch; return its outcome once this node has applied it."""
        self.check_admission(batch.readings, before_body=False)
        assert self._loop is not None, "Proposer.start() was not called"
        future: asyncio.Future[BatchOutcome] = self._loop.create_future()
        future.add_done_callback(_retrieve)  # the caller may have timed out and gone
        if not self._queue and not self._in_flight:
            self._last_progress = time.monotonic()  # idle until now: not a stall
            self._rate.busy(self._last_progress)
        self._queue.append(_Waiting(batch, future, time.monotonic()))
        self._pending_readings += batch.readings
        self._schedule_flush()
        try:
            outcome = await asyncio.wait_for(asyncio.shield(future),
                                             self._limits.commit_timeout_s)
        except TimeoutError as exc:
            self.stats["timeouts"] += 1
            raise raft_failure(exc, "the batch", timeout_s=self._limits.commit_timeout_s) from None
        if outcome.status == "key_reused":
            raise IdempotencyKeyReused(outcome.message, field="Idempotency-Key")
        if outcome.status == TOO_MANY_METRICS:  # another write took the room meanwhile
            raise TooManyMetrics(outcome.message)
        if outcome.status != "ok":
            raise InternalError(f"the batch was refused by apply: {outcome.message}")
        return outcome

    def _schedule_flush(self) -> None:
        # Deferred with call_soon so that every request parsed in this loop iteration joins
        # the same entry.
        if not self._flush_scheduled:
            self._flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """No new entry is proposed while the block runs; batches still queue, bounded by
        admission. For a leadership transfer: PySyncObj hands over only to a follower holding
        the whole log, which under steady writes (and fsync'd acknowledgements) is seldom
        true for long, so the leader stops appending meanwhile, as etcd stops proposals
        during a transfer."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            self._schedule_flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        limits = self._limits
        while self._queue and not self._holds and len(self._in_flight) < limits.max_in_flight:
            items: list[_Waiting] = []
            size = readings = 0
            while self._queue:
                nxt = self._queue[0]
                nxt_size = len(nxt.batch.columns_payload)
                if items and size + nxt_size > limits.max_entry_bytes:
                    break
                items.append(self._queue.popleft())
                size += nxt_size
                readings += nxt.batch.readings
            entry_id = next(self._ids)
            self._in_flight[entry_id] = _InFlight(
                items, readings, time.monotonic() + 3 * limits.commit_timeout_s
            )
            self.stats["entries"] += 1
            self.stats["batches"] += len(items)
            payload = encode_ingest([w.batch for w in items], limits.metric_limits)
            self._raft.propose(payload, partial(self._from_raft_thread, entry_id))

    def _from_raft_thread(
        self, entry_id: int, result: ApplyResult | None, error: ProposeError | None
    ) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            self._loop.call_soon_threadsafe(self._finish, entry_id, result, error)

    def _finish(self, entry_id: int, result: ApplyResult | None, error: ProposeError | None) -> None:
        flight = self._in_flight.pop(entry_id, None)
        if flight is None:  # already reaped
            return
        if error is None:
            self._last_progress = time.monotonic()
            self._rate.add(self._last_progress, flight.readings)
        else:
            self.stats["failed"] += 1
        self._pending_readings -= flight.readings
        for position, waiting in enumerate(flight.items):
            if waiting.future.done():
                continue
            if error is not None:
                waiting.future.set_exception(raft_failure(error, "the batch"))
            elif result is None or result.error is not None:
                reason = result.error if result is not None else "no result"
                waiting.future.set_exception(InternalError(f"entry refused by apply: {reason}"))
            else:
                waiting.future.set_result(result.batches[position])
        self._schedule_flush()

    async def _reap_forever(self) -> None:
        """PySyncObj has no timeout of its own: a callback can be lost (e.g. a follower that
        never applies the index again). Forget such entries so accounting cannot leak."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for entry_id in [i for i, f in self._in_flight.items() if f.expires_at < now]:
                self._finish(entry_id, None, ProposeError(ProposeFailure.NO_ANSWER))


# Nothing committed for this long (or max_queue_delay_s if longer) is a stall of the
# cluster: long enough that a slow entry (a sealing apply, an fsync) on a busy box is not one.
_STALL_S = 2.0


def _retrieve(future: asyncio.Future[BatchOutcome]) -> None:
    if not future.cancelled():
        future.exception()
