"""What every handler needs, stored once on the aiohttp application under web.AppKeys. They
are made when the application starts and closed when it stops (lifecycle.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from lithair_node.machine.state import StateMachine
from lithair_node.node.config import NodeConfig
from lithair_node.node.consistency import ReadBarrier
from lithair_node.node.ingest.proposer import Proposer
from lithair_node.node.ingest_history import IngestHistory
from lithair_node.node.raft.raft_node import RaftNode
from lithair_node.node.stream.hub import StreamHub


@dataclass
class NodeContext:
    config: NodeConfig
    state: StateMachine
    raft: RaftNode
    proposer: Proposer
    started_at: float = field(default_factory=time.time)


NODE = web.AppKey("node", NodeContext)
READ_BARRIER = web.AppKey("read_barrier", ReadBarrier)
FORWARD_SESSION = web.AppKey("forward_session", aiohttp.ClientSession)
STREAM_HUB = web.AppKey("stream_hub", StreamHub)
INGEST_HISTORY = web.AppKey("ingest_history", IngestHistory)


def node_of(request: web.Request) -> NodeContext:
    return request.app[NODE]
