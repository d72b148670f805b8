"""The disk a node's journal writes through: the real one, or, in the test-only mode of
LITHAIR_TEST_UNSYNCED_WRITES=buffer, one that keeps unsynced writes in the process so that
a kill -9 is a power cut (journal/unsynced_buffer.py)."""

from __future__ import annotations

from lithair_node.node.config import UNSYNCED_WRITES_BUFFER, NodeConfig
from lithair_node.node.raft.journal import FileIO, OsFileIO
from lithair_node.node.raft.journal.unsynced_buffer import BufferedUntilSync


def node_file_io(config: NodeConfig) -> FileIO:
    if config.unsynced_writes_for_tests == UNSYNCED_WRITES_BUFFER:
        return BufferedUntilSync()
    return OsFileIO()
