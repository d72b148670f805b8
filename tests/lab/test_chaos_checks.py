"""The fault harness's own logic: the seeded schedule, and that each check of the run
(reads going backwards, time without a leader, two leaders in a term, acks naming
inconsistent log entries) flags what it should and only that."""

from __future__ import annotations

import pytest

from lithair_node.client.cluster_client import ACKED, UNKNOWN, SendResult
from lithair_node.lab.chaos import plan as kinds
from lithair_node.lab.chaos.checks import acked_term_problems
from lithair_node.lab.chaos.observe import (
    ReadTrack,
    election_safety,
    has_leader,
    leaderless_intervals,
    overlap_s,
)
from lithair_node.lab.chaos.plan import plan_faults
from lithair_node.lab.history import BatchRecord, Probe
from lithair_node.lab.leader_watch import RoleEvent

REQUIRED = (kinds.KILL_LEADER, kinds.PAUSE_LEADER, kinds.ISOLATE_LEADER)


def test_the_schedule_is_a_function_of_the_seed() -> None:
    first = plan_faults(11, 20, 300, network=True)
    assert first == plan_faults(11, 20, 300, network=True)
    assert first != plan_faults(12, 20, 300, network=True)
    assert len(first) == 20
    assert [f.number for f in first] == list(range(1, 21))
    starts = [f.at_s for f in first]
    assert starts == sorted(starts) and starts[0] >= kinds.WARMUP_S and starts[-1] < 300
    for fault in first:
        low, high = kinds.HOLD_S[fault.kind]
        assert low <= fault.hold_s <= high
        assert 0 <= fault.pick < 1
    assert all(low >= 1.0 and high <= 10.0 for low, high in (kinds.HOLD_S[k] for k in kinds.PAUSES))


@pytest.mark.parametrize("seed", range(10))
def test_required_kinds_are_included_and_partitions_only_with_a_network(seed: int) -> None:
    with_net = plan_faults(seed, 4, 60, network=True, required=REQUIRED)
    assert set(REQUIRED) <= {f.kind for f in with_net}
    without = plan_faults(seed, 4, 60, network=False, required=REQUIRED)
    assert {kinds.KILL_LEADER, kinds.PAUSE_LEADER} <= {f.kind for f in without}
    assert not {f.kind for f in without} & set(kinds.PARTITIONS)


def test_a_schedule_too_short_for_its_requirements_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_faults(1, 2, 60, network=True, required=REQUIRED)
    with pytest.raises(ValueError):
        plan_faults(1, 5, 60, network=True, required=("unplug_the_rack",))


def test_reads_going_backwards_are_flagged_once_per_drop() -> None:
    track = ReadTrack("http://n1")
    for applied, total in [(5, 100), (5, 100), (9, 180), (12, 200)]:
        track.observe(applied, total, 1.0)
    assert track.violations == []
    track.observe(10, 200, 2.0)  # applied index went down
    track.observe(13, 190, 3.0)  # readings went down
    track.observe(14, 230, 4.0)
    assert [v["after"] for v in track.violations] == [
        {"applied_index": 10, "total_readings": 200}, {"applied_index": 13, "total_readings": 190}]
    assert track.highest == (14, 230) and track.answers == 7


def _event(at: float, node: str, role: str, term: int | None, leader: str | None) -> RoleEvent:
    return RoleEvent(at, f"http://{node}", node, role, term, leader)


def test_time_without_a_leader_backed_by_a_majority() -> None:
    events = [
        _event(0.0, "a", "leader", 1, "a"), _event(0.0, "b", "follower", 1, "a"),
        _event(0.0, "c", "follower", 1, "a"),
        _event(10.0, "a", "unreachable", None, None),  # leader stopped: b, c still name it
        _event(11.5, "b", "leader", 2, "b"),  # b elected, c not told yet: no majority
        _event(11.7, "c", "follower", 2, "b"),
        _event(20.0, "a", "leader", 1, "a"),  # a resumes, still believes it leads term 1
        _event(20.3, "a", "follower", 2, "b"),
    ]
    intervals = leaderless_intervals(events, 3, start=5.0, end=30.0)
    assert intervals == [(10.0, 11.7)]
    assert overlap_s(intervals, 11.0, 30.0) == pytest.approx(0.7)
    latest = {e.node: e for e in events[:3]} | {"http://b": events[4], "http://c": events[5],
                                                "http://a": events[6]}
    chosen = has_leader(latest, 3)
    assert chosen is not None and chosen.node_id == "b"  # a stale leader alone is no leader
    # Still without a leader when the window ends: the interval runs to the end.
    assert leaderless_intervals(events[:5], 3, start=5.0, end=30.0) == [(10.0, 30.0)]


def test_two_leaders_in_one_term_break_election_safety() -> None:
    fine = [_event(0, "a", "leader", 1, "a"), _event(5, "b", "leader", 2, "b"),
            _event(6, "a", "leader", 3, "a")]
    by_term, problems = election_safety(fine)
    assert by_term == {1: ["a"], 2: ["b"], 3: ["a"]} and problems == []
    _, problems = election_safety([*fine, _event(7, "c", "leader", 2, "c")])
    assert problems == ["term 2: ['b', 'c'] all said they led"]


def _acked(index: int, term: int, status: str = ACKED) -> BatchRecord:
    result = SendResult(status, f"k{index}-{term}", 10,
                        response={"raft_index": index, "raft_term": term} if status == ACKED else None)
    return BatchRecord(Probe(f"s{index}", 0, 0.0), result)


def test_acks_must_name_one_term_per_index_and_terms_never_decrease_along_the_log() -> None:
    consistent = [_acked(3, 1), _acked(3, 1), _acked(4, 1), _acked(9, 2), _acked(12, 5),
                  _acked(13, 0, status=UNKNOWN)]
    found = acked_term_problems(consistent)
    assert found == {"acked_entries": 4, "index_term_conflicts": [], "term_inversions": []}
    # A stale leader acked index 9 in term 1 while index 9 committed in term 2, and an ack
    # at index 15 names a term older than index 12's.
    found = acked_term_problems([*consistent, _acked(9, 1), _acked(15, 3)])
    assert found["index_term_conflicts"] == [{"raft_index": 9, "terms": [1, 2]}]
    assert found["term_inversions"] == [
        {"raft_index": 15, "term": 3, "after_index": 12, "after_term": 5}]
