"""The proposer's figures behind /metrics: batches pending (queued or in flight) and entries
that failed, driven through a stand-in for the Raft facade."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from lithair_node.machine.commands import make_encoded_batch
from lithair_node.node.errors import NoLeader, OutcomeUnknown
from lithair_node.node.ingest.fields import Limits
from lithair_node.node.ingest.proposer import Proposer, ProposerLimits
from lithair_node.node.ingest.validation import validate_batch
from lithair_node.node.raft.types import ProposeError, ProposeFailure, RaftStatus, unready_status


class FakeRaft:
    """Knows a leader; keeps each proposal's callback for the test to answer."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[..., None]] = []

    def status(self) -> RaftStatus:
        return dataclasses.replace(unready_status(), leader="127.0.0.1:1")

    def propose(self, payload: bytes, callback: Callable[..., None]) -> None:
        self.callbacks.append(callback)


def batch(sensor: str) -> Any:
    columns, received = validate_batch({"readings": [{"sensor_id": sensor, "timestamp": 1, "v": 1.0}]},
                                       Limits())
    return make_encoded_batch(columns, None, received)


async def test_pending_batches_and_failed_entries_are_counted() -> None:
    raft = FakeRaft()
    proposer = Proposer(raft, ProposerLimits(max_in_flight=1))  # type: ignore[arg-type]
    await proposer.start()
    try:
        # Three batches queued in one loop iteration: group commit packs them into one entry.
        writes = [asyncio.create_task(proposer.submit(batch(s))) for s in ("a", "b", "c")]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert proposer.pending_batches == 3 and len(raft.callbacks) == 1
        raft.callbacks[0](None, ProposeError(ProposeFailure.NO_LEADER))
        for write in writes:
            with pytest.raises(NoLeader):
                await write
        assert proposer.stats["failed"] == 1 and proposer.pending_batches == 0
        # One entry in flight (the limit), two batches queued behind it: all three pending.
        first = asyncio.create_task(proposer.submit(batch("d")))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        queued = [asyncio.create_task(proposer.submit(batch(s))) for s in ("e", "f")]
        await asyncio.sleep(0)
        assert proposer.pending_batches == 3 and len(raft.callbacks) == 2
        raft.callbacks[1](None, ProposeError(ProposeFailure.LEADER_CHANGED))
        with pytest.raises(OutcomeUnknown):
            await first
        assert proposer.stats["failed"] == 2
        assert proposer.pending_batches == 2 and len(raft.callbacks) == 3  # the next entry
        raft.callbacks[2](None, ProposeError(ProposeFailure.NO_LEADER))
        for write in queued:
            with pytest.raises(NoLeader):
                await write
        assert proposer.stats["failed"] == 3 and proposer.pending_batches == 0
    finally:
        await proposer.stop()
