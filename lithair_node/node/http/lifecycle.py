"""What starts and stops with the aiohttp application (its cleanup_ctx, in this order, and
stopped in reverse): the Raft replica with the proposer and read barrier on top of it, then the
one ClientSession that forwards requests to the leader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from lithair_node.machine.state import StateMachine
from lithair_node.node.config import NodeConfig
from lithair_node.node.consistency import ReadBarrier
from lithair_node.node.http.context import (
    FORWARD_SESSION,
    INGEST_HISTORY,
    METRICS,
    NODE,
    READ_BARRIER,
    STREAM_HUB,
    NodeContext,
)
from lithair_node.node.ingest.proposer import Proposer, ProposerLimits
from lithair_node.node.ingest_history import IngestHistory
from lithair_node.node.metrics import NodeMetrics, ProposerFigures
from lithair_node.node.raft.raft_node import RaftNode
from lithair_node.node.stream.hub import HubLimits, StreamHub

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def replica(config: NodeConfig) -> CleanupContext:
    async def run(app: web.Application) -> AsyncIterator[None]:
        state = StateMachine(compaction=config.segment_compaction)
        raft = RaftNode(config, state)
        # Binding blocks (PySyncObj retries for a few seconds): keep the loop free meanwhile.
        await asyncio.to_thread(raft.start)
        try:
            proposer = Proposer(raft, ProposerLimits(
                max_entry_bytes=config.raft.append_batch_bytes // 2,
                max_pending_readings=config.max_pending_readings,
                max_queue_delay_s=config.max_queue_delay_s,
                commit_timeout_s=config.commit_timeout_s,
                metric_limits=config.metric_limits,
            ))
            await proposer.start()
            try:
                app[NODE] = NodeContext(config, state, raft, proposer)
                app[READ_BARRIER] = ReadBarrier(raft, config.commit_timeout_s)
                app[METRICS] = node_metrics(raft, state, proposer)
                yield
            finally:
                await proposer.stop()
        finally:
            await asyncio.to_thread(raft.stop)

    return run


def node_metrics(raft: RaftNode, state: StateMachine, proposer: Proposer) -> NodeMetrics:
    """Read at scrape time, on the event loop (the proposer's own thread)."""
    return NodeMetrics(
        raft_status=raft.status,
        state_stats=state.stats,
        proposer=lambda: ProposerFigures(pending_proposals=proposer.pending_batches,
                                         failed_proposals=proposer.stats["failed"]),
        fsync_latency=lambda: raft.journal_status().get("fsync_latency_s"),
    )


async def forwarding_session(app: web.Application) -> AsyncIterator[None]:
    # Bodies pass through as the leader encoded them.
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        app[FORWARD_SESSION] = session
        yield


async def live_views(app: web.Application) -> AsyncIterator[None]:
    """What the stream and the dashboard read: the hub of GET /api/v1/stream, listening to
    the replica's applied entries, and the ingest history."""
    node = app[NODE]
    hub = StreamHub(node.state, node.raft, HubLimits(
        max_clients=node.config.max_stream_clients, ring_bytes=node.config.stream_resume_bytes))
    await hub.start()
    app[STREAM_HUB] = hub
    history = IngestHistory(node.state, node.proposer)
    await history.start()
    app[INGEST_HISTORY] = history
    try:
        yield
    finally:
        await history.stop()
        await hub.stop()
