"""What every handler needs, stored once on the aiohttp application."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from lithair_node.machine.state import StateMachine
from lithair_node.node.config import NodeConfig
from lithair_node.node.ingest.proposer import Proposer
from lithair_node.node.raft.raft_node import RaftNode


@dataclass
class NodeContext:
    config: NodeConfig
    state: StateMachine
    raft: RaftNode
    proposer: Proposer
    started_at: float = field(default_factory=time.time)


NODE = web.AppKey("node", NodeContext)


def node_of(request: web.Request) -> NodeContext:
    return request.app[NODE]
