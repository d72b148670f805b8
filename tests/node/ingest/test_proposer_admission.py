"""Admission refuses past saturation only: a slow entry with a queue this node drains within
--max-queue-delay is admitted; a queue longer than that is 429; no commit at all is 503."""

from __future__ import annotations

import asyncio
import time

import pytest

from lithair_node.machine.entries import ApplyResult
from lithair_node.node.errors import Overloaded, Unavailable
from lithair_node.node.ingest.drain_rate import DrainRate
from lithair_node.node.ingest.proposer import Proposer, ProposerLimits
from tests.node.ingest.test_proposer_figures import FakeRaft, batch


def _commit(proposer: Proposer, readings: int) -> None:
    """Pretend `readings` committed just now (the drain rate admission measures)."""
    proposer._rate.add(time.monotonic(), readings)
    proposer._last_progress = time.monotonic()


async def test_a_slow_entry_is_not_overload_but_a_long_queue_is() -> None:
    raft = FakeRaft()
    proposer = Proposer(raft, ProposerLimits(max_in_flight=1, max_queue_delay_s=0.05))  # type: ignore[arg-type]
    await proposer.start()
    try:
        writes = [asyncio.create_task(proposer.submit(batch(s))) for s in ("a", "b")]
        await asyncio.sleep(0.1)  # the oldest has waited past the delay
        proposer.check_admission(1)  # nothing ever committed: the rate is unknown, not 0
        _commit(proposer, 1000)  # ~500 readings/s drained: 25 per 0.05 s >> 2 waiting
        proposer.check_admission(1)
        slow = DrainRate()  # 1 reading in a busy second: 0.05 per 0.05 s < 2 waiting
        slow.busy(time.monotonic() - 1.0)
        slow.add(time.monotonic(), 1)
        proposer._rate = slow
        with pytest.raises(Overloaded):
            proposer.check_admission(1)
        proposer.check_admission(1, before_body=False)  # a decoded batch is not refused for it
        proposer._last_progress = time.monotonic() - 3  # nothing committed for 3 s: a stall
        with pytest.raises(Unavailable):
            proposer.check_admission(1)
        raft.callbacks[0](ApplyResult(1, 1, error="test"), None)
        for write in writes:
            write.cancel()
    finally:
        await proposer.stop()
