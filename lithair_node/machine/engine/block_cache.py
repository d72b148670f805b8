"""Decoded segment blocks, least recently used first out, bounded in bytes (the shape of
Prometheus' chunk cache or InfluxDB's TSM block cache).

Not state: nothing replicated, snapshotted or hashed reads it, and a cached block is the
very array the decoder gave (read-only), so a hit answers what a miss would. Entries are
keyed by the segment object and dropped when it is collected (weakref.finalize): a segment
swapped out by a merge or by retention is not kept alive by the cache (functools.lru_cache
held them, so a merge's inputs outlived their swap), and an id is never reused while its
entries remain.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_BYTES = 32 << 20  # 1,024 blocks of 4,096 float64: a node's reads are not worth more RSS


class BlockCache:
    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = self.misses = self.evictions = 0
        self._blocks: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()
        self._keys: dict[int, set[tuple[int, int, int]]] = {}  # segment id -> its entries
        self._lock = threading.RLock()  # readers run in worker threads

    def peek(self, segment: Any, metric: int, block: int) -> np.ndarray | None:
        """The cached block, or None (not decoded here: row_decode.py decodes only the rows
        a read needs, in a batch). Counted as a hit or a miss as get() would."""
        key = (id(segment), metric, block)
        with self._lock:
            found = self._blocks.get(key)
            if found is None:
                self.misses += 1
                return None
            self._blocks.move_to_end(key)
            self.hits += 1
            return found

    def get(self, segment: Any, metric: int, block: int,
            decode: Callable[[], np.ndarray]) -> np.ndarray:
        key = (id(segment), metric, block)
        with self._lock:
            found = self._blocks.get(key)
            if found is not None:
                self._blocks.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        found = decode()  # outside the lock: two readers may decode one block, both right
        if found.nbytes > self.max_bytes:
            return found
        with self._lock:
            if key in self._blocks:
                return self._blocks[key]
            if id(segment) not in self._keys:
                self._keys[id(segment)] = set()
                weakref.finalize(segment, self._forget, id(segment))
            self._keys[id(segment)].add(key)
            self._blocks[key] = found
            self.bytes += found.nbytes
            while self.bytes > self.max_bytes:
                old, gone = self._blocks.popitem(last=False)
                self.bytes -= gone.nbytes
                self.evictions += 1
                self._keys[old[0]].discard(old)
        return found

    def _forget(self, segment_id: int) -> None:
        with self._lock:
            for key in self._keys.pop(segment_id, ()):
                gone = self._blocks.pop(key, None)
                if gone is not None:
                    self.bytes -= gone.nbytes

    def clear(self) -> None:
        with self._lock:
            self._blocks.clear()
            for keys in self._keys.values():
                keys.clear()
            self.bytes = 0

    def stats(self) -> dict[str, int]:
        """For /metrics and the benchmarks: entries, bytes, hits, misses, evictions."""
        with self._lock:
            return {"entries": len(self._blocks), "bytes": self.bytes, "max_bytes": self.max_bytes,
                    "hits": self.hits, "misses": self.misses, "evictions": self.evictions}


BLOCKS = BlockCache()  # one for the process: every engine's segments share the bound
