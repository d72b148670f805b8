"""Idempotency keys remembered inside the replicated state.

Bounded by count and evicted oldest-first in apply order, so every node keeps exactly the
same keys (no wall clock is read). A retry is recognised as long as fewer than `capacity`
keyed batches were applied after the original.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from lithair_node.machine.digest import MASK64, bytes_hash

# Part of the replicated state's definition: every node of a cluster must use the same value.
KEY_CAPACITY = 100_000


@dataclass(frozen=True, slots=True)
class BatchResult:
    accepted: int
    duplicates: int
    raft_index: int
    raft_term: int


# (fingerprint, accepted, duplicates, raft_index, raft_term): a tuple of atoms, which the
# cyclic GC stops tracking, so 100,000 remembered keys add nothing to a full collection
# (objects such as BatchResult would be traversed by every one: tens of ms of stalled
# threads each time).
_Row = tuple[bytes, int, int, int, int]


class KeyTable:
    def __init__(self, capacity: int = KEY_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, _Row] = OrderedDict()
        self.hash_sum = 0  # order-independent digest of (key, fingerprint) pairs held

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> tuple[bytes, BatchResult] | None:
        row = self._entries.get(key)
        if row is None:
            return None
        return row[0], BatchResult(row[1], row[2], row[3], row[4])

    def put(self, key: str, fingerprint: bytes, result: BatchResult) -> None:
        self._entries[key] = (fingerprint, result.accepted, result.duplicates,
                              result.raft_index, result.raft_term)
        self.hash_sum = (self.hash_sum + _pair_hash(key, fingerprint)) & MASK64
        while len(self._entries) > self.capacity:
            old_key, (old_fp, *_) = self._entries.popitem(last=False)
            self.hash_sum = (self.hash_sum - _pair_hash(old_key, old_fp)) & MASK64

    def export(self) -> list[list[object]]:
        """Entries oldest first, as plain lists (for snapshots)."""
        return [[key, *row] for key, row in self._entries.items()]

    def load(self, rows: list[list[object]]) -> None:
        self._entries.clear()
        self.hash_sum = 0
        for key, fp, accepted, duplicates, index, term in rows:
            self.put(str(key), bytes(fp), BatchResult(int(accepted), int(duplicates),  # type: ignore[arg-type]
                                                      int(index), int(term)))  # type: ignore[arg-type]


def _pair_hash(key: str, fingerprint: bytes) -> int:
    return bytes_hash(key.encode() + b"\x00" + fingerprint)
