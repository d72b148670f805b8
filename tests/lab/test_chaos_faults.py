"""The fault table: every planned kind has a fault, aimed at the right nodes, whose start
and undo do what the kind says (on a stand-in cluster and network: no processes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from lithair_node.lab.chaos import plan as kinds
from lithair_node.lab.chaos.faults import ClusterFaults
from lithair_node.lab.chaos.plan import PlannedFault
from lithair_node.node.config import UNSYNCED_WRITES_BUFFER, UNSYNCED_WRITES_ENV


@dataclass
class Spec:
    node_id: str


@dataclass
class StandIn:
    """Records the calls a fault makes to the cluster or the network lab."""

    nodes: int = 3
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # the nodes' environment (LocalCluster)

    @property
    def specs(self) -> list[Spec]:
        return [Spec(f"node{i + 1}") for i in range(self.nodes)]

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, *args))


def planned(kind: str, pick: float = 0.0) -> PlannedFault:
    return PlannedFault(number=1, kind=kind, at_s=0.0, hold_s=1.0, pick=pick)


@pytest.mark.parametrize("kind", kinds.ALL_KINDS)
def test_every_kind_has_a_fault_that_undoes_itself(kind: str) -> None:
    cluster, lab = StandIn(), StandIn()
    if kind == kinds.POWER_CUT:  # only nodes in the test I/O mode can lose unsynced writes
        cluster.env[UNSYNCED_WRITES_ENV] = UNSYNCED_WRITES_BUFFER
    fault = ClusterFaults(cluster, lab).prepare(planned(kind), leader=1)  # type: ignore[arg-type]
    assert fault.targets and fault.detail
    fault.start()
    fault.undo()
    assert cluster.calls or lab.calls


def test_faults_aim_at_the_leader_or_a_follower_as_their_kind_says() -> None:
    cluster, lab = StandIn(), StandIn()
    faults = ClusterFaults(cluster, lab)  # type: ignore[arg-type]
    kill = faults.prepare(planned(kinds.KILL_LEADER), leader=1)
    assert (kill.targets, kill.detail) == (["node2"], "leader")
    kill.start()
    kill.undo()
    assert cluster.calls == [("kill_node", 1), ("start_node", 1)]
    pause = faults.prepare(planned(kinds.PAUSE_FOLLOWER, pick=0.9), leader=1)
    assert (pause.targets, pause.detail) == (["node3"], "follower")
    isolate = faults.prepare(planned(kinds.ISOLATE_FOLLOWER), leader=1)
    assert (isolate.targets, isolate.detail) == (["node1"], "node1 | node2 node3")
    bridge = faults.prepare(planned(kinds.BRIDGE, pick=0.9), leader=0)
    assert bridge.targets == ["node1", "node3"]
    assert bridge.detail == "link node1 <-> node3 cut; node2 sees both"
    bridge.start()
    bridge.undo()
    assert lab.calls == [("partition", [0], [2]), ("heal",)]
    restart = faults.prepare(planned(kinds.RESTART_CLUSTER, pick=0.7), leader=0)
    assert (restart.targets, restart.detail) == (["node1", "node2", "node3"],
                                                 "SIGTERM to every node")


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        ClusterFaults(StandIn(), None).prepare(planned("flood"), leader=0)  # type: ignore[arg-type]


def test_a_power_cut_needs_nodes_that_buffer_unsynced_writes() -> None:
    with pytest.raises(ValueError, match="test I/O mode"):
        ClusterFaults(StandIn(), StandIn()).prepare(planned(kinds.POWER_CUT), leader=0)  # type: ignore[arg-type]
