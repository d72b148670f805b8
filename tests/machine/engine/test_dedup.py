"""dedup.already_stored against a set of pairs: late readings asked of sealed segments whose
runs are regular (answered by arithmetic), irregular (decoded) or one row long, with and
without the run bits (a segment restored from a snapshot has none)."""

from __future__ import annotations

import numpy as np
import pytest

from lithair_node.machine.engine.dedup import already_stored
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.hot import HotView
from lithair_node.machine.engine.sealing import Sealing
from lithair_node.machine.engine.segment import BLOCK_ROWS, frames_only, seal
from lithair_node.machine.engine.whole_ts import all_ts
from tests.machine.engine.builders import make_columns
from tests.machine.engine.held_builders import Held, Immediate

EMPTY = np.empty(0, dtype=np.int64)
NO_HOT = HotView(EMPTY, EMPTY, EMPTY, EMPTY, np.empty(0))


def _stored(rng: np.random.Generator, sensors: int) -> set[tuple[int, int]]:
    """Per sensor, a regular run (fixed step), an irregular one (random gaps) or one row."""
    pairs: set[tuple[int, int]] = set()
    for sensor in range(sensors):
        kind, first = sensor % 3, int(rng.integers(0, 1000))
        if kind == 0:
            step, n = int(rng.integers(1, 50)), int(rng.integers(2, 300))
            times = first + step * np.arange(n)
        elif kind == 1:
            times = first + np.cumsum(rng.integers(1, 40, int(rng.integers(2, 300))))
        else:
            times = np.array([first])
        pairs.update((sensor, int(t)) for t in times)
    return pairs


def _segment(pairs: set[tuple[int, int]]):
    sensor = np.array([s for s, _ in pairs], dtype=np.int64)
    ts = np.array([t for _, t in pairs], dtype=np.int64)
    n = sensor.shape[0]
    return seal(0, sensor, ts, np.arange(n), np.zeros(n, dtype=np.int64), np.ones(n))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("with_run_bits", [True, False])
def test_late_readings_are_found_exactly_when_a_segment_holds_them(seed: int, with_run_bits: bool) -> None:
    rng = np.random.default_rng(seed)
    pairs = _stored(rng, int(rng.integers(3, 90)))
    segment = _segment(pairs)
    assert segment.rows == len(pairs)
    if not with_run_bits:
        segment = frames_only(segment)
    stored = sorted(pairs)
    hits = [stored[i] for i in rng.choice(len(stored), size=min(200, len(stored)), replace=False)]
    # Misses: between stored timestamps, before and after a sensor's span, unknown sensors.
    sensors = max(s for s, _ in pairs) + 1
    misses = [(int(s), int(t)) for s, t in zip(rng.integers(0, sensors + 3, 300),
                                               rng.integers(-50, 12_000, 300), strict=True)]
    asked = list(dict.fromkeys(hits + misses))
    found = already_stored(np.array([s for s, _ in asked], dtype=np.int64),
                           np.array([t for _, t in asked], dtype=np.int64), NO_HOT, [segment])
    assert found.tolist() == [pair in pairs for pair in asked]


def test_runs_in_blocks_far_apart_are_looked_up_in_both():
    # Two irregular sensors whose runs lie blocks apart, with a regular one between them.
    pairs = {(0, t * 3 + t % 2) for t in range(100)}
    pairs |= {(1, 10 * t) for t in range(3 * BLOCK_ROWS)}
    pairs |= {(2, t * 7 + t % 3) for t in range(100)}
    segment = _segment(pairs)
    asked = [(0, 3 * 10 + 0), (0, 3 * 11 + 1), (0, 3 * 11), (2, 7 * 50 + 2), (2, 7 * 50),
             (1, 10 * 2000), (1, 10 * 2000 + 5)]
    found = already_stored(np.array([s for s, _ in asked]), np.array([t for _, t in asked]),
                           NO_HOT, [segment])
    assert found.tolist() == [pair in pairs for pair in asked]
    assert found.tolist() == [True, True, False, True, False, True, False]


def test_a_built_part_not_yet_swapped_answers_late_readings_by_its_run_bits():
    start = 1_700_000_000_000_000
    first = [(f"s{i}", start + 1_000_000 * t, {"a": float(t)}, None) for i in range(4) for t in range(60)]
    fresh = [(f"s{i}", start + 1_000_000 * 100, {"a": 0.0}, None) for i in range(4)]
    # Late: half repeat stored readings (to drop), half fall between them (to store).
    late = [(f"s{i}", start + 1_000_000 * t + (t % 2) * 500_000, {"a": -1.0}, None)
            for i in range(4) for t in range(10, 30)]
    built, held = Engine(200, Immediate()), Engine(200, Held())
    for engine in (built, held):
        for batch in (first, fresh, late):
            engine.apply_batch(make_columns(batch))
    part = built.segments[-1]
    assert isinstance(part, Sealing) and part.done() and part.regular is not None
    assert isinstance(held.segments[-1], Sealing) and held.segments[-1].regular is None
    for engine in (built, held):  # 240 + 4 fresh + the 40 late ones between stored readings
        assert engine.total_readings == 240 + 4 + 40
    assert built.readings_hash == held.readings_hash


def test_a_segment_s_timestamps_are_decoded_once_and_equal_its_blocks():
    rng = np.random.default_rng(7)
    segment = frames_only(_segment(_stored(rng, 60)))  # no run bits: every block decoded
    whole = all_ts(segment)
    assert np.array_equal(whole, segment.ts_between(0, segment.rows))
    assert all_ts(segment) is whole  # cached: the batches after the first search it again
    assert not whole.flags.writeable
