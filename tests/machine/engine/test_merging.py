"""Merges off the apply path (engine/merging.py): whether a merge is built at once, held
pending until its swap, built by a real thread behind a gate, fails or is never started,
every answer, the digest and the snapshot bytes at every batch are the same, and a swapped
merge lets its inputs go."""

import gc
import weakref

import numpy as np
import pytest

from lithair_node.machine.engine import compaction, retention, snapshot
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.sealing import Sealing
from tests.machine.engine.feeds import START_US, mixed_workload
from tests.machine.engine.held_builders import Failing, Gated, Held, Immediate, Refusing
from tests.machine.engine.test_sealing import assert_same_answers, files

SEAL_ROWS = 600


@pytest.fixture(autouse=True)
def _small_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compaction, "ENABLED", True)  # off by default (compaction.py)
    monkeypatch.setattr(compaction, "FAN_IN", 3)  # many merges in a small workload


def _workload():
    return mixed_workload(64, 4, 300, (5, 9))  # 16 cuts: merges swapped SWAP_AFTER cuts on


def _pending_merge(engine: Engine) -> bool:
    merge = engine._merge
    return merge is not None and not merge.done()


def test_merges_held_pending_answer_and_snapshot_as_merges_done_at_once():
    held = Held()
    at_once, late = Engine(SEAL_ROWS, Immediate()), Engine(SEAL_ROWS, held)
    seen_pending = 0
    for columns in _workload():
        at_once.apply_batch(columns)
        late.apply_batch(columns)
        assert [s.rows for s in at_once.segments] == [s.rows for s in late.segments]
        assert (at_once.total_readings, at_once.readings_hash) == (late.total_readings, late.readings_hash)
        if _pending_merge(late):
            seen_pending += 1
            if seen_pending % 4 == 1:  # a merge is pending for SWAP_AFTER cuts: some of them
                assert files(at_once) == files(late)
                assert_same_answers(at_once, late)
    assert seen_pending >= 17
    assert late.merges_waited >= 3 and at_once.merges_waited == 0
    levels = [compaction.level(s.rows, SEAL_ROWS) for s in late.segments]
    assert levels.count(1) >= 2  # merges did happen
    assert files(at_once) == files(late)


def test_a_merge_on_a_real_thread_behind_a_gate_is_swapped_at_the_next_cut():
    gated = Gated(merges_only=True)
    at_once, threaded = Engine(SEAL_ROWS, Immediate()), Engine(SEAL_ROWS, gated)
    batches = _workload()
    fed = 0
    while threaded._merge is None:
        at_once.apply_batch(batches[fed])
        threaded.apply_batch(batches[fed])
        fed += 1
    merge = threaded._merge
    before = len(threaded.segments)
    assert not merge.done()
    assert_same_answers(at_once, threaded)  # the inputs answer while the merge waits
    gated.gate.set()
    for columns in batches[fed:]:
        at_once.apply_batch(columns)
        threaded.apply_batch(columns)
    assert merge.job is None  # swapped: it holds nothing any more
    assert len(threaded.segments) < before + (len(batches) - fed)
    assert files(at_once) == files(threaded)
    assert_same_answers(at_once, threaded)


@pytest.mark.parametrize("builder", [Failing, Refusing])
def test_a_failing_merge_is_built_synchronously_at_the_swap(builder):
    at_once, broken = Engine(SEAL_ROWS, Immediate()), Engine(SEAL_ROWS, builder())
    for columns in _workload():
        at_once.apply_batch(columns)
        broken.apply_batch(columns)
    assert any(compaction.level(s.rows, SEAL_ROWS) for s in broken.segments)
    assert files(at_once) == files(broken)
    assert_same_answers(at_once, broken)


def test_a_snapshot_taken_while_a_merge_is_pending_restores_to_the_same_plan():
    batches = _workload()
    whole = Engine(SEAL_ROWS, Immediate())
    for columns in batches:
        whole.apply_batch(columns)
    restores = 0
    for stop in range(5, len(batches), 3):
        half = Engine(SEAL_ROWS, Held())
        for columns in batches[:stop]:
            half.apply_batch(columns)
        state, blobs = files(half)
        restored = snapshot.load_with(state, lambda n, b=blobs: snapshot.segments.decode(b[n]))
        restored.builder = Held()
        assert (restored._merge is None) == (half._merge is None)
        if half._merge is not None:
            restores += 1
            assert restored._merge.at == half._merge.at
            assert ([segments.encode(s) for s in restored._merge._inputs]
                    == [segments.encode(s) for s in half._merge._inputs])
        assert files(restored) == (state, blobs)
        for columns in batches[stop:]:
            restored.apply_batch(columns)
            half.apply_batch(columns)
            assert [s.rows for s in restored.segments] == [s.rows for s in half.segments]
        assert files(restored) == files(whole) == files(half)
    assert restores >= 3
    assert_same_answers(whole, restored)


def test_retention_between_cuts_replans_the_merge_and_answers_the_same():
    batches = _workload()
    at_once, late = Engine(SEAL_ROWS, Immediate()), Engine(SEAL_ROWS, Held())
    dropped = 0
    for i, columns in enumerate(batches):
        at_once.apply_batch(columns)
        late.apply_batch(columns)
        if i % 7 == 6:  # expire rows of the oldest segments: some are merge inputs
            cutoff = np.full(len(late.sensors), START_US + i * 4 * 500_000, dtype=np.int64)
            got = retention.drop_older(late, cutoff, 0.3)
            assert retention.drop_older(at_once, cutoff, 0.3) == got
            dropped += got
            assert files(at_once) == files(late)
            assert_same_answers(at_once, late)
    assert dropped > 0
    assert files(at_once) == files(late)
    assert_same_answers(at_once, late)


@pytest.mark.parametrize("lag", [SEAL_ROWS // 3, 10 * SEAL_ROWS])  # started; never started
def test_a_swapped_merge_lets_its_inputs_go_even_while_old_parts_are_kept(lag):
    # Snapshot refs keep old Sealing parts alive, and a part held back by the stagger carries
    # the merge it starts: after the swap nothing may keep the merge's input segments.
    class Lagging(Immediate):
        lag_rows = lag

    engine = Engine(SEAL_ROWS, Lagging())
    kept_parts: list[Sealing] = []
    inputs: list[weakref.ref] = []
    merges: list[weakref.ref] = []
    for columns in _workload():
        before = engine._merge
        engine.apply_batch(columns)
        kept_parts += [s for s in engine.segments if isinstance(s, Sealing)]
        if engine._merge is not None and engine._merge is not before:
            merges.append(weakref.ref(engine._merge))
            inputs += [weakref.ref(s) for s in engine._merge._inputs]
    assert len(merges) >= 3 and len(kept_parts) >= 5
    engine.settle()
    gc.collect()
    assert [m() for m in merges if m() is not None and m() is not engine._merge] == []
    live = {id(s) for s in engine.segments}
    live |= {id(p._frozen._built) for p in kept_parts}  # a kept part keeps its own segment
    if engine._merge is not None:
        live |= {id(s) for s in engine._merge._inputs}
    assert [r() for r in inputs if r() is not None and id(r()) not in live] == []
