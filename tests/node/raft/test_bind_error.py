"""A Raft port that cannot be bound is our RaftBindError, not PySyncObj's SyncObjException."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from lithair_node.machine.state import StateMachine
from lithair_node.node.config import NodeConfig
from lithair_node.node.raft.raft_node import RaftNode
from lithair_node.node.raft.types import RaftBindError


def test_start_raises_raft_bind_error_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = NodeConfig(node_id="solo", http_host="127.0.0.1", http_port=8000,
                            raft_address=f"127.0.0.1:{port}", peers=(), data_dir=tmp_path,
                            raft_password="test-password")
        node = RaftNode(config, StateMachine())
        with pytest.raises(RaftBindError, match=f"cannot bind the Raft port 127.0.0.1:{port}"):
            node.start()
    node.stop()  # nothing was started: a no-op
