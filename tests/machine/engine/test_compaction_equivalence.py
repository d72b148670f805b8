"""tests/machine/test_apply_equivalence.py pins snapshot content against a reference tree at
seal_rows 7,000: its feeds cut fewer than FAN_IN times, so no merge is ever planned and the
pin holds with compaction on or off. Here the same feeds cut often enough to merge: every
answer but the segment layout is what they give without compaction."""

from __future__ import annotations

import pytest

from lithair_node.machine.engine import compaction, merging
from tests.machine.apply_feeds import FEEDS, outcome


def _outcome(monkeypatch: pytest.MonkeyPatch, feed: str, enabled: bool, seal_rows: int,
             plans: list[None]) -> dict[str, str]:
    monkeypatch.setattr(compaction, "ENABLED", enabled)
    init = merging.PendingMerge.__init__

    def counted(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        plans.append(None)
        init(self, *args, **kwargs)

    monkeypatch.setattr(merging.PendingMerge, "__init__", counted)
    try:
        return outcome(FEEDS[feed](), seal_rows)
    finally:
        monkeypatch.setattr(merging.PendingMerge, "__init__", init)


@pytest.mark.parametrize("feed", ["mixed", "gateway-1000"])
def test_the_pinned_feeds_never_merge_at_the_pinned_seal_rows(monkeypatch, feed):
    plans: list[None] = []
    on = _outcome(monkeypatch, feed, True, 7_000, plans)
    assert plans == []
    assert on == _outcome(monkeypatch, feed, False, 7_000, plans)


@pytest.mark.parametrize("feed", ["mixed", "random-1000"])
def test_merging_the_pinned_feeds_changes_only_the_segment_layout(monkeypatch, feed):
    plans: list[None] = []
    on = _outcome(monkeypatch, feed, True, 600, plans)
    assert len(plans) >= 2
    off = _outcome(monkeypatch, feed, False, 600, [])
    assert on.pop("snapshot") != off.pop("snapshot")  # merged segments: another layout
    assert on == off
