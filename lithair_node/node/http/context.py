"""What every handler needs, stored once on the aiohttp application under web.AppKeys. They
are made when the application starts and closed when it stops (lifecycle.py)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from lithair_node.machine.state import StateMachine
from lithair_node.node.config import NodeConfig
from lithair_node.node.consistency import ReadBarrier
from lithair_node.node.ingest.proposer import Proposer
from lithair_node.node.ingest.typed_rows import TypedRows
from lithair_node.node.ingest_history import IngestHistory
from lithair_node.node.metrics import NodeMetrics
from lithair_node.node.raft.raft_node import RaftNode
from lithair_node.node.stream.hub import StreamHub


@dataclass
class NodeContext:
    config: NodeConfig
    state: StateMachine
    raft: RaftNode
    proposer: Proposer
    started_at: float = field(default_factory=time.time)
    # Held by the leader from a membership change's first check to its commit: one at a time.
    membership_change: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The shapes of JSON reading this node decodes straight into typed rows (POST batches).
    typed_rows: TypedRows = field(default_factory=TypedRows)


NODE = web.AppKey("node", NodeContext)
READ_BARRIER = web.AppKey("read_barrier", ReadBarrier)
FORWARD_SESSION = web.AppKey("forward_session", aiohttp.ClientSession)
METRICS = web.AppKey("metrics", NodeMetrics)
STREAM_HUB = web.AppKey("stream_hub", StreamHub)
INGEST_HISTORY = web.AppKey("ingest_history", IngestHistory)


def node_of(request: web.Request) -> NodeContext:
    return request.app[NODE]
