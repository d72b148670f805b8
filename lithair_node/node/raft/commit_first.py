"""The leader tells its followers a new commit index before it applies the entries itself.

A mixin of ReplicatedLog (syncobj.py) over PySyncObj 0.3.17, whose tick computes the commit
index, applies every newly committed entry, and only then sends AppendEntries: a follower
learnt that an entry was committed one leader apply later (1.3 ms for one 1,000-reading
batch, up to the whole group-committed entry's apply under load), and a write sent to a
follower is acknowledged only once that follower has applied it too. etcd's leader hands
the commit index out with its next messages whatever its own apply is doing; so does this.
Safety is Raft's: a follower applies only what the commit index it receives covers.
tests/node/raft/test_commit_first.py drives it on a real PySyncObj object, and
test_replication_internals.py pins the tick order it relies on.
"""

from __future__ import annotations

from typing import Any

from pysyncobj import SyncObj


class CommitIndexFirst:
    def _SyncObj__applyLogEntries(self: Any) -> bool:  # PySyncObj's name
        if self._isLeader() and self._SyncObj__raftCommitIndex > self._SyncObj__raftLastApplied:
            self._SyncObj__sendAppendEntries()  # carries the new commit index
            SyncObj._SyncObj__applyLogEntries(self)  # type: ignore[attr-defined]
            # Nothing to send after the apply: the commit index cannot move meanwhile, and
            # new entries go out as they are appended (appendEntriesUseBatch=False).
            return False
        return bool(SyncObj._SyncObj__applyLogEntries(self))  # type: ignore[attr-defined]
