"""What every handler needs, stored once on the aiohttp application."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from ..config import NodeConfig
from ..proposer import Proposer
from ..replication import RaftNode
from ..state import StateMachine


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
