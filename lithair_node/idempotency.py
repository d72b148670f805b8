"""Idempotency keys remembered inside the replicated state.

Bounded by count and evicted oldest-first in apply order, so every node keeps exactly the
same keys (no wall clock is read). A retry is recognised as long as fewer than `capacity`
keyed batches were applied after the original.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .digest import MASK64, bytes_hash

# Part of the replicated state's definition: every node of a cluster must use the same value.
KEY_CAPACITY = 100_000


@dataclass(frozen=True, slots=True)
class BatchResult:
    accepted: int
    duplicates: int
    raft_index: int
    raft_term: int


class KeyTable:
    def __init__(self, capacity: int = KEY_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[bytes, BatchResult]] = OrderedDict()
        self.hash_sum = 0  # order-independent digest of (key, fingerprint) pairs held

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> tuple[bytes, BatchResult] | None:
        return self._entries.get(key)

    def put(self, key: str, fingerprint: bytes, result: BatchResult) -> None:
        self._entries[key] = (fingerprint, result)
        self.hash_sum = (self.hash_sum + _pair_hash(key, fingerprint)) & MASK64
        while len(self._entries) > self.capacity:
            old_key, (old_fp, _) = self._entries.popitem(last=False)
            self.hash_sum = (self.hash_sum - _pair_hash(old_key, old_fp)) & MASK64

    def export(self) -> list[list[object]]:
        """Entries oldest first, as plain lists (for snapshots)."""
        return [
            [key, fp, r.accepted, r.duplicates, r.raft_index, r.raft_term]
            for key, (fp, r) in self._entries.items()
        ]

    def load(self, rows: list[list[object]]) -> None:
        self._entries.clear()
        self.hash_sum = 0
        for key, fp, accepted, duplicates, index, term in rows:
            self.put(str(key), bytes(fp), BatchResult(int(accepted), int(duplicates),  # type: ignore[arg-type]
                                                      int(index), int(term)))  # type: ignore[arg-type]


def _pair_hash(key: str, fingerprint: bytes) -> int:
    return bytes_hash(key.encode() + b"\x00" + fingerprint)
