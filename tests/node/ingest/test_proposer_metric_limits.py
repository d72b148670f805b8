"""The race the receiving node's check cannot see: two writes, each within the limits
against the current state, together beyond them. Apply (with the limits the proposer wrote
into the entry) keeps the first and refuses the second, which answers 422."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from lithair_node.machine.commands import MetricLimits, make_encoded_batch
from lithair_node.machine.entries import LogEntry
from lithair_node.machine.state import StateMachine
from lithair_node.node.errors import TooManyMetrics
from lithair_node.node.ingest.proposer import Proposer, ProposerLimits
from lithair_node.node.ingest.validation import Limits, validate_batch
from tests.node.ingest.test_proposer_figures import FakeRaft


class RecordingRaft(FakeRaft):
    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[bytes] = []

    def propose(self, payload: bytes, callback: Callable[..., None]) -> None:
        self.payloads.append(payload)
        super().propose(payload, callback)


def _names(first: int, count: int, ts: int) -> Any:
    reading = {"sensor_id": "big", "timestamp": ts,
               **{f"m{i:03d}": 1.0 for i in range(first, first + count)}}
    columns, received = validate_batch({"readings": [reading]}, Limits())
    return columns, make_encoded_batch(columns, None, received)


async def test_apply_refuses_the_write_that_loses_the_race() -> None:
    state, limits = StateMachine(), MetricLimits(per_sensor=10, per_cluster=100)
    raft = RecordingRaft()
    proposer = Proposer(raft, ProposerLimits(metric_limits=limits))  # type: ignore[arg-type]
    await proposer.start()
    try:
        (a_columns, a), (b_columns, b) = _names(0, 6, 1), _names(6, 6, 2)
        # each passes the check where the write arrives: the state holds nothing yet
        assert state.metric_limit_refusal(a_columns, limits) is None
        assert state.metric_limit_refusal(b_columns, limits) is None
        writes = [asyncio.create_task(proposer.submit(x)) for x in (a, b)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(raft.payloads) == 1  # group commit: one entry
        raft.callbacks[0](state.apply(LogEntry(1, 1, raft.payloads[0])), None)
        first = await asyncio.wait_for(writes[0], 5)
        assert first.status == "ok" and first.result is not None and first.result.accepted == 1
        with pytest.raises(TooManyMetrics, match="'big' would have 12 metric names") as refused:
            await asyncio.wait_for(writes[1], 5)
        assert refused.value.status == 422 and refused.value.body()["error"]["code"] == \
            "too_many_metrics"
        assert state.stats()["total_readings"] == 1
    finally:
        await proposer.stop()
