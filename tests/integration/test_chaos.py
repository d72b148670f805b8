"""A seeded 60-second fault run (lithair_node/chaos) against real `lithair serve` processes:
a leader kill, a leader pause, a partition (each node in a network namespace of its own,
when this machine allows it) and whatever else the seed draws, under a modest load from
three writers. Afterwards nothing acked is lost, nothing is applied twice, every node holds
the same state, and no node's reads ever went backwards.

The long run has its own command: `python scripts/chaos.py --seed N --faults 20 --duration 300`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lithair_node.chaos import ChaosOptions, run_chaos, summary_lines
from lithair_node.chaos import plan as kinds

SEED = 6  # draws: pause the leader, kill a follower, kill the leader, isolate the leader,
# restart the whole cluster (with namespaces; on loopback the partition is not drawn)
REQUIRED = (kinds.KILL_LEADER, kinds.PAUSE_LEADER, kinds.ISOLATE_LEADER)
# Long enough that the two others must elect a new leader (election timeout <= 2 s).
DEPOSING_HOLD_S = 4.0


@pytest.mark.timeout(900)
def test_seeded_fault_run_loses_nothing_and_applies_nothing_twice(tmp_path: Path) -> None:
    options = ChaosOptions(
        seed=SEED, faults=5, duration_s=60, writers=3, concurrency=2, batch_size=20,
        rate=250, required=REQUIRED, recovery_timeout_s=180,
    )
    result = run_chaos(options, tmp_path, log=print)
    print("\n".join(summary_lines(result)))

    assert result["faults_applied"] == 5, result["problems"]
    applied = set(result["fault_kinds"])
    assert {kinds.KILL_LEADER, kinds.PAUSE_LEADER} <= applied
    if result["partitions_skipped"]:
        assert result["partition_mechanism"].startswith("none"), result["partition_mechanism"]
    else:
        assert kinds.ISOLATE_LEADER in applied
    # The faults were real: each one aimed at the leader put a leader of a newer term in
    # place (a killed node restarts as a follower; a paused or cut-off one is replaced).
    for fault in result["faults"]:
        deposing = fault["kind"] == kinds.KILL_LEADER or (
            fault["kind"] in (kinds.PAUSE_LEADER, kinds.ISOLATE_LEADER)
            and fault["hold_s"] >= DEPOSING_HOLD_S)
        if deposing:
            assert any(term > fault["term_before"] for _, term in fault["leaders_during"]), fault

    assert result["lost"] == 0, result["lost_keys"]
    assert result["duplicated"] == 0 and result["duplicate_readings"] == 0
    assert result["divergent_nodes"] == []
    assert result["failed_but_present"] == 0
    assert result["elections"]["one_leader_per_term"]
    assert not result["acked_terms"]["index_term_conflicts"]
    assert not result["acked_terms"]["term_inversions"]
    for url, reads in result["reads"].items():
        assert reads["went_backwards"] == 0, (url, reads["violations"])
        assert reads["reads"] >= 100, (url, reads)
    writes = result["writes"]
    assert writes["acked"] >= 300, writes
    assert writes["acked"] + writes["failed"] + writes["unknown"] == writes["batches"]
    assert result["ok"], "\n".join(result["problems"])
