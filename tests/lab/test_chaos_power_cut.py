"""The chaos harness's power_cut fault: kill -9 of every node at once, with the nodes in the
test I/O mode (unsynced writes are lost with the process, as in a power cut)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lithair_node.lab.chaos import ChaosOptions, run_chaos, summary_lines
from lithair_node.lab.chaos import plan as kinds
from lithair_node.lab.chaos.faults import ClusterFaults
from lithair_node.lab.chaos.plan import PlannedFault, plan_faults
from lithair_node.lab.local_cluster import LocalCluster


@pytest.mark.parametrize("seed", range(10))
def test_power_cuts_are_planned_only_where_the_nodes_run_in_the_test_io_mode(seed: int) -> None:
    assert kinds.POWER_CUT not in {f.kind for f in plan_faults(seed, 30, 300, network=True)}
    assert kinds.POWER_CUT not in {f.kind for f in plan_faults(
        seed, 4, 60, network=False, required=(kinds.POWER_CUT,))}
    planned = plan_faults(seed, 4, 60, network=False, required=(kinds.POWER_CUT,),
                          power_cut=True)
    assert kinds.POWER_CUT in {f.kind for f in planned}
    # The mode does not change what other seeds drew without it.
    assert plan_faults(seed, 20, 300, network=True) == plan_faults(seed, 20, 300, network=True)


def test_a_power_cut_on_a_cluster_with_real_disks_is_refused(tmp_path: Path) -> None:
    faults = ClusterFaults(LocalCluster(tmp_path), None)
    with pytest.raises(ValueError, match="test I/O mode"):
        faults.prepare(PlannedFault(1, kinds.POWER_CUT, 3.0, 1.0, 0.5), leader=0)


@pytest.mark.timeout(400)
def test_a_fault_run_with_power_cuts_loses_nothing_acked(tmp_path: Path) -> None:
    options = ChaosOptions(
        seed=3, faults=3, duration_s=30, writers=2, concurrency=2, batch_size=20, rate=300,
        network=False, required=(kinds.POWER_CUT, kinds.KILL_LEADER), power_cut=True,
        recovery_timeout_s=120, extra_args=("--snapshot-entries", "300"))
    result = run_chaos(options, tmp_path, log=print)
    print("\n".join(summary_lines(result)))
    assert kinds.POWER_CUT in result["fault_kinds"]
    assert result["lost"] == 0, result["lost_keys"]
    assert result["divergent_nodes"] == [] and result["duplicated"] == 0
    assert result["elections"]["one_leader_per_term"]
    assert result["writes"]["acked"] >= 100, result["writes"]
    assert result["ok"], "\n".join(result["problems"])
