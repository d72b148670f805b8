"""A foreign Raft client that knows the password and proposes arbitrary commands.

It stands for a buggy or compromised proposer: whatever it gets into the log, every node
must apply without raising and keep applying later entries.
"""

from __future__ import annotations

import threading
from typing import Any

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, replicated

from lithair_node.node.raft.wire import install_wire_format


class RoguePeer(SyncObj):
    """A read-only member (no Raft vote) whose only method has our replicated method's name,
    so its commands carry the same method id as the real nodes'."""

    def __init__(self, raft_addresses: list[str], password: str) -> None:
        # A peer that knows the password speaks the nodes' wire format (AES-GCM, no zlib).
        install_wire_format()
        super().__init__(None, raft_addresses, SyncObjConf(password=password,
                                                           appendEntriesUseBatch=False))

    @replicated
    def apply_envelope(self, *args: Any) -> None:
        return None

    def propose_and_wait(self, payload: Any, *extra: Any, timeout_s: float = 30.0) -> int:
        """Propose `payload`; return PySyncObj's status once this peer has applied it."""
        done = threading.Event()
        outcome: list[int] = []

        def callback(_result: Any, error: int) -> None:
            outcome.append(error)
            done.set()

        self.apply_envelope(payload, *extra, callback=callback)
        if not done.wait(timeout_s):
            raise TimeoutError("the rogue command was neither committed nor refused")
        return outcome[0]


SUCCESS = FAIL_REASON.SUCCESS
