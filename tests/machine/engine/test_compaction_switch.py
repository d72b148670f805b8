"""A node's --segment-compaction reaches its engine (StateMachine(compaction=...)) and stays
set across a restore, whatever the process default (compaction.ENABLED)."""

from __future__ import annotations

import pytest

from lithair_node.machine.engine import compaction
from lithair_node.machine.entries import LogEntry
from lithair_node.machine.state import StateMachine
from tests.machine.apply_feeds import FEEDS


def _merged_segments(state: StateMachine) -> int:
    """Segments of level 1 (FAN_IN seals' rows): only a merge makes them."""
    engine = state._tables.engine
    engine.settle()
    return sum(compaction.level(part.rows, engine.seal_rows) > 0 for part in engine.segments)


def _fed(compacts: bool | None, restore_halfway: bool) -> StateMachine:
    state = StateMachine(compaction=compacts)
    state._tables.engine.seal_rows = 600
    entries = FEEDS["random-1000"]()
    for i, payload in enumerate(entries, 1):
        if restore_halfway and i == len(entries) // 2:
            restored = StateMachine(compaction=compacts)
            restored.restore(state.snapshot())
            restored._tables.engine.seal_rows = 600
            state = restored
        state.apply(LogEntry(i, 1, payload))
    return state


@pytest.mark.parametrize("restore_halfway", [False, True])
def test_the_node_setting_wins_over_the_default(monkeypatch, restore_halfway):
    monkeypatch.setattr(compaction, "ENABLED", False)
    on = _fed(True, restore_halfway)
    assert on._tables.engine.compaction is True
    assert _merged_segments(on) > 0
    monkeypatch.setattr(compaction, "ENABLED", True)
    off = _fed(False, restore_halfway)
    assert _merged_segments(off) == 0
    assert on.digest() == off.digest()  # the same readings, in other segments
