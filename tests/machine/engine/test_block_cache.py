"""The decoded-block cache (engine/block_cache.py): answers with it are those without it,
it stays within its bytes, and a segment no longer held takes its entries with it."""

import gc

import numpy as np
import pytest

from lithair_node.machine.engine import block_cache, segment
from lithair_node.machine.engine.block_cache import BlockCache
from lithair_node.machine.engine.engine import Engine
from tests.machine.engine.feeds import mixed_workload
from tests.machine.engine.held_builders import Immediate
from tests.machine.engine.test_sealing import answers

BLOCK_BYTES = segment.BLOCK_ROWS * 8


def _sealed(rows: int = 9 * segment.BLOCK_ROWS) -> segment.Segment:
    rng = np.random.default_rng(3)
    sensor = np.sort(rng.integers(0, 50, rows)).astype(np.int32)
    ts = np.arange(rows, dtype=np.int64) * 10
    present = rng.random((2, rows)) < 0.7
    metric_row, row = np.nonzero(present)
    return segment.seal(0, sensor, ts, row, metric_row.astype(np.int32),
                        np.round(rng.random(metric_row.shape[0]) * 50, 2))


def _same(x, y) -> bool:
    if isinstance(x, tuple):
        return all(_same(a, b) for a, b in zip(x, y, strict=True))
    x, y = np.asarray(x), np.asarray(y)
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


def test_answers_with_the_cache_are_those_without_it(monkeypatch):
    engine = Engine(700, Immediate())
    for columns in mixed_workload(40, 4, 300, (3, 4)):
        engine.apply_batch(columns)
    engine.settle()
    off = BlockCache(max_bytes=0)
    monkeypatch.setattr(segment, "BLOCKS", off)
    uncached = answers(engine)
    assert off.stats()["entries"] == 0 and off.misses > 0
    on = BlockCache(max_bytes=1 << 30)
    monkeypatch.setattr(segment, "BLOCKS", on)
    first, second = answers(engine), answers(engine)
    assert on.hits > 0 and on.stats()["entries"] > 0
    assert all(_same(a, b) for a, b in zip(uncached, first, strict=True))
    assert all(_same(a, b) for a, b in zip(uncached, second, strict=True))


def test_the_cache_stays_within_its_bytes_and_evicts_the_least_recently_used():
    cache = BlockCache(max_bytes=3 * BLOCK_BYTES)
    sealed = _sealed()
    for block in range(6):
        cache.get(sealed, -1, block, lambda b=block: segment._decoded_block(sealed, -1, b))
    assert cache.bytes <= 3 * BLOCK_BYTES and cache.stats()["entries"] == 3
    assert cache.evictions == 3
    cache.get(sealed, -1, 3, lambda: pytest.fail("block 3 is cached"))
    cache.get(sealed, -1, 0, lambda: segment._decoded_block(sealed, -1, 0))  # evicts 4
    cache.get(sealed, -1, 3, lambda: pytest.fail("block 3 was used last but one"))
    assert cache.misses == 7 and cache.hits == 2


def test_a_segment_no_longer_held_leaves_the_cache():
    cache = BlockCache()
    sealed = _sealed()
    for block in range(4):
        got = cache.get(sealed, 0, block, lambda b=block, s=sealed: segment._decoded_block(s, 0, b))
        assert np.array_equal(got, segment._decoded_block(sealed, 0, block), equal_nan=True)
    assert cache.stats()["entries"] == 4
    del sealed, got
    gc.collect()
    assert cache.stats()["entries"] == 0 and cache.bytes == 0


def test_the_engine_reads_through_one_bounded_process_cache():
    assert segment.BLOCKS is block_cache.BLOCKS
    assert block_cache.BLOCKS.max_bytes == block_cache.MAX_BYTES <= 64 << 20
