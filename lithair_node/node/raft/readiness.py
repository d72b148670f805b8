"""When a node may start serving reads: once its applied state covers everything committed
before it started."""

from __future__ import annotations

from typing import Any

from lithair_node.node.raft.syncobj import ReplicatedLog


def caught_up_now(raft_log: ReplicatedLog, raw: dict[str, Any]) -> bool:
    """Whether this node's applied state now covers everything committed before it started:
    from then on it may serve reads (they never go back in time, even across a restart).

    PySyncObj's isReady() (applied up to the leader's commit index once) is not enough after
    a crash: a node's commit index is saved once a second, so a restarted node that becomes
    leader starts from a commit index that can be behind what it applied and served before,
    until it commits an entry of its own term; and its followers take that stale index from
    it (found by scripts/chaos.py: a whole-cluster kill -9, then reads at applied_index 5
    from a node that had served 171). Once the entry at our commit index is of the current
    term, a leader of this term committed it, so it covers every entry committed in earlier
    terms (Raft's leader completeness; the Raft paper, section 8, has a new leader commit a
    no-op before serving reads for the same reason)."""
    if not raft_log.isReady() or raw["last_applied"] < raw["commit_idx"]:
        return False
    try:
        entries = raft_log._SyncObj__getEntries(raw["commit_idx"], 1)
    except Exception:
        return False
    return bool(entries) and entries[0][2] == raw["raft_term"]
