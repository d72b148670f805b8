"""row_decode answers what segment.py's block-by-block reads answer, bit for bit: partial
blocks, whole blocks, cached blocks, sparse metrics (presence bitmaps), scaled and raw
frames, timestamps, restored segments without a run index; and readings(limit) decodes
only the runs among its first `limit` readings."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest

from lithair_node.machine.engine import reads, row_decode
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.block_cache import BLOCKS
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.segment import Segment
from tests.machine.engine.feeds import mixed_workload

SEAL_ROWS = 900


def _engine() -> Engine:
    engine = Engine(SEAL_ROWS)
    for columns in mixed_workload(30, 4, 200, (7, 3)):
        engine.apply_batch(columns)
    engine.settle()
    return engine


def _reference(segment: Segment, metric: int, a: int, b: int) -> np.ndarray:
    # ts_between without the regular-run shortcut; values_between as it is
    return segments._gather(segment, -1, a, b) if metric < 0 else segment.values_between(metric, a, b)


@pytest.mark.parametrize("block_rows", [4, 64, 4096])
@pytest.mark.parametrize("cached", [False, True])
def test_pieces_are_the_block_reads_bit_for_bit(block_rows: int, cached: bool) -> None:
    with mock.patch.object(segments, "BLOCK_ROWS", block_rows):
        engine = _engine()
        built = [s for s in engine.segments if isinstance(s, Segment)]
        restored = [segments.decode(segments.encode(s)) for s in built]  # no run index
        assert built and all(s.regular is None for s in restored)
        rng = np.random.default_rng(block_rows)
        asked = []
        for segment in built + restored:
            metrics = [-1, *segment.metric_ids().tolist(), 999]  # 999: held nowhere
            for _ in range(40):
                a = int(rng.integers(0, segment.rows))
                b = int(rng.integers(a, min(segment.rows, a + 3 * block_rows) + 1))
                asked.append((segment, int(rng.choice(metrics)), a, b))
        assert any(segment.columns[m][k][1] for segment in built for m in segment.columns
                   for k in segment.columns[m])  # some blocks carry a presence bitmap
        BLOCKS.clear()
        if cached:  # half of the blocks already decoded
            for segment, metric, a, _ in asked[::2]:
                if metric < 0 or metric in segment.columns:
                    segments.dense_block(segment, metric, a // block_rows)
        got = row_decode.pieces(asked)
        for (segment, metric, a, b), found in zip(asked, got, strict=True):
            want = _reference(segment, metric, a, b)
            assert found.dtype == want.dtype and found.tobytes() == want.tobytes()


def test_located_is_ts_between_and_two_searches() -> None:
    engine = _engine()
    view = engine.view()
    restored = tuple(segments.decode(segments.encode(s)) for s in view.segments)
    for parts in (view.segments, restored):
        for sensor in range(0, 45, 7):
            for start, end, limit in ((0, 2**62, None), (segments_start(parts) + 3 * 500_000,
                                                       segments_start(parts) + 90 * 500_000, 5)):
                found = row_decode.located(parts, sensor, start, end, limit)
                want = []
                for segment in parts:
                    a, b, first, last = segment.span(sensor)
                    if a == b or last < start or first >= end:
                        continue
                    ts = segment.ts_between(a, b)
                    lo, hi = np.searchsorted(ts, (start, end)).tolist()
                    hi = hi if limit is None else min(hi, lo + limit)
                    if hi > lo:
                        want.append((segment, a + lo, ts[lo:hi]))
                assert [(s, a) for s, a, _ in found] == [(s, a) for s, a, _ in want]
                for (_, _, ts), (_, _, wanted) in zip(found, want, strict=True):
                    assert ts.tobytes() == wanted.tobytes()


def segments_start(parts: tuple[object, ...]) -> int:
    return min(int(s.min_ts.min()) for s in parts)  # type: ignore[attr-defined]


def test_readings_with_a_limit_decode_only_the_first_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine()
    view = engine.view()
    sensor = 3
    full_ids, full_ts, full_values = reads.readings(view, sensor, 0, 2**62)
    asked: list[int] = []
    original = row_decode.pieces

    def spied(pieces):  # type: ignore[no-untyped-def]
        asked.extend(b - a for _, metric, a, b in pieces if metric >= 0)
        return original(pieces)

    monkeypatch.setattr(row_decode, "pieces", spied)
    for limit in (1, 7, 40, full_ts.shape[0], full_ts.shape[0] + 5):
        asked.clear()
        ids, ts, values = reads.readings(view, sensor, 0, 2**62, limit)
        assert np.array_equal(ids, full_ids)
        assert ts.tobytes() == full_ts[:limit].tobytes()
        assert values.tobytes() == np.ascontiguousarray(full_values[:, :limit]).tobytes()
        assert sum(asked) <= limit * full_ids.shape[0]  # never the rows past the limit
