"""The deferred swap point (compaction.due): a merge planned at a cut is swapped in exactly
SWAP_AFTER cuts later on every node, whatever its builds' timing; a node restored from a
snapshot taken between plan and swap plans the same merge and swaps it at the same cut;
retention dropping a segment before a pending run keeps its build."""

import itertools

import numpy as np
import pytest

from lithair_node.machine.engine import compaction, retention, snapshot
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.sealing import ThreadBuilder
from tests.machine.engine.feeds import mixed_workload, synthetic_columns
from tests.machine.engine.held_builders import Held, Immediate
from tests.machine.engine.test_sealing import assert_same_answers, files

SEAL_ROWS = 600
FAN_IN, SWAP_AFTER = 4, 2  # neither the next cut nor FAN_IN cuts: the general case


@pytest.fixture(autouse=True)
def _small_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compaction, "ENABLED", True)
    monkeypatch.setattr(compaction, "FAN_IN", FAN_IN)
    monkeypatch.setattr(compaction, "SWAP_AFTER", SWAP_AFTER)


def _workload():
    return mixed_workload(72, 4, 300, (5, 9))  # 18 cuts


def _fed_counting_cuts(engine: Engine, batches) -> list[tuple[int, object, int]]:
    """Per batch: (cuts so far, the pending merge or None, segments held)."""
    cuts: list[None] = []
    seal = engine.seal
    engine.seal = lambda: (cuts.append(None), seal())[1]  # type: ignore[method-assign]
    seen = []
    for columns in batches:
        engine.apply_batch(columns)
        seen.append((len(cuts), engine._merge, len(engine.segments)))
    return seen


def test_a_merge_planned_at_a_cut_is_swapped_exactly_swap_after_cuts_later():
    engine = Engine(SEAL_ROWS, Held())
    seen = _fed_counting_cuts(engine, _workload())
    planned: dict[int, int] = {}  # id of a merge (each kept alive in seen) -> its plan's cut
    swaps = 0
    for (cut, merge, count), (later_cut, later, later_count) in itertools.pairwise(seen):
        if merge is not None:
            planned.setdefault(id(merge), cut)
        if merge is not None and later is not merge:  # swapped at the next batch's cut
            swaps += 1
            assert later_cut == planned[id(merge)] + SWAP_AFTER
            assert later_count == count - FAN_IN + 1 + 1  # FAN_IN into one, and the new part
    assert swaps >= 3
    assert len(planned) in (swaps, swaps + 1)  # one at a time: at most the last still pending


def test_engines_fed_alike_hold_the_same_segments_at_every_batch_whatever_their_builds():
    batches = _workload()
    thread = ThreadBuilder()  # a real thread: builds finish whenever they do
    engines = [Engine(SEAL_ROWS, Immediate()), Engine(SEAL_ROWS, Held()), Engine(SEAL_ROWS, thread)]
    pending_seen = 0
    for columns in batches:
        for engine in engines:
            engine.apply_batch(columns)
        first = engines[0]
        for other in engines[1:]:
            assert [s.rows for s in other.segments] == [s.rows for s in first.segments]
            assert (other._merge is None) == (first._merge is None)
            if first._merge is not None:
                assert other._merge.at == first._merge.at
        pending_seen += first._merge is not None
        assert files(engines[1]) == files(first) == files(engines[2])
    assert pending_seen >= 10
    assert engines[1].merges_waited >= 3 and engines[0].merges_waited == 0
    assert any(compaction.level(s.rows, SEAL_ROWS) for s in first.segments)
    assert_same_answers(engines[0], engines[2])


def test_a_node_restored_between_plan_and_swap_swaps_the_same_merge_at_the_same_cut():
    whole = Engine(SEAL_ROWS, Held())  # the node that never stopped
    restored: list[Engine] = []
    snapshotted: list[object] = []  # the merges pending at each snapshot
    for i, columns in enumerate(_workload()):
        whole.apply_batch(columns)
        for node in restored:
            node.apply_batch(columns)
            assert files(node) == files(whole)
            assert (node._merge is None) == (whole._merge is None)
            if whole._merge is not None:
                assert node._merge.at == whole._merge.at
        merge = whole._merge
        if merge is None or i % 3 or len(restored) == 6:
            continue  # snapshots at some of the batches between a plan and its swap
        state, blobs = files(whole)
        node = snapshot.load_with(state, lambda n, b=blobs: segments.decode(b[n]))
        node.builder = Held()
        assert node._merge is not None and node._merge.at == merge.at
        assert ([segments.encode(s) for s in node._merge._inputs]
                == [segments.encode(s) for s in merge._inputs])
        restored.append(node)
        snapshotted.append(merge)
    assert len(restored) == 6 and len({id(m) for m in snapshotted}) >= 2
    for node in restored:
        assert files(node) == files(whole)
    assert_same_answers(restored[0], whole)


def test_retention_dropping_a_segment_before_a_pending_run_keeps_its_build_and_swap_cut():
    batches = synthetic_columns(40, 150, 72, seed=5)  # no late readings: segments in time order
    held, at_once = Engine(SEAL_ROWS, Held()), Engine(SEAL_ROWS, Immediate())
    kept = 0
    for columns in batches:
        held.apply_batch(columns)
        at_once.apply_batch(columns)
        merge = held._merge
        if kept or merge is None or merge.at == 0 or merge.job is None:
            continue
        first = held.segments[0]  # the first merge's segment: expire every row of it
        cutoff = np.full(len(held.sensors), retention.KEEP_ALL, dtype=np.int64)
        cutoff[first.sensors] = first.max_ts + 1
        job, at = merge.job, merge.at
        dropped = retention.drop_older(held, cutoff)
        assert retention.drop_older(at_once, cutoff) == dropped >= first.rows
        assert held._merge is merge and merge.job is job  # the same build, moved
        assert merge.at == at - 1
        kept += 1
    assert kept == 1
    for engine in (held, at_once):
        engine.settle()
    assert files(held) == files(at_once)
    assert_same_answers(held, at_once)
