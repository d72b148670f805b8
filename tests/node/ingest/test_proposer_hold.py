"""Proposer.held: no entry is proposed while a leadership transfer holds the log still;
what queued meanwhile goes out as soon as the hold ends."""

from __future__ import annotations

import asyncio

from lithair_node.machine.entries import ApplyResult, BatchOutcome
from lithair_node.node.ingest.proposer import Proposer, ProposerLimits
from tests.node.ingest.test_proposer_figures import FakeRaft, batch


async def test_nothing_is_proposed_while_held_and_everything_after() -> None:
    raft = FakeRaft()
    proposer = Proposer(raft, ProposerLimits())  # type: ignore[arg-type]
    await proposer.start()
    try:
        async with proposer.held():
            write = asyncio.create_task(proposer.submit(batch("held")))
            for _ in range(5):
                await asyncio.sleep(0)
            assert raft.callbacks == [] and proposer.pending_batches == 1
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(raft.callbacks) == 1
        raft.callbacks[0](ApplyResult(7, 1, (BatchOutcome("ok", None),)), None)
        outcome = await asyncio.wait_for(write, 5)
        assert outcome.status == "ok"
    finally:
        await proposer.stop()
