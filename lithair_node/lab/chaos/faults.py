"""What each kind of fault does to the cluster: one small function per kind, in one table.

A function gets the planned fault and who leads at the time it is applied, and returns a
Fault: how to start it, how to undo it, the node ids it hits and a line saying how. Undo
is always applied, however the hold ends; `release_everything` is the last resort after a
run (links healed, paused nodes continued, stopped nodes started).
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from lithair_node.lab.chaos import plan as kinds
from lithair_node.lab.chaos.plan import PlannedFault
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.lab.netlab import NetworkLab
from lithair_node.node.config import UNSYNCED_WRITES_BUFFER, UNSYNCED_WRITES_ENV


@dataclass(frozen=True)
class Fault:
    start: Callable[[], None]
    undo: Callable[[], None]
    targets: list[str]  # node ids
    detail: str


@dataclass(frozen=True)
class Aim:
    """Whom a planned fault can hit: the leader when it is applied, and the `pick` drawn
    by the plan to choose among candidates."""

    planned: PlannedFault
    leader: int
    nodes: int

    @property
    def followers(self) -> list[int]:
        return [i for i in range(self.nodes) if i != self.leader]

    def choose(self, candidates: list[int]) -> int:
        pick = self.planned.pick
        return candidates[min(int(pick * len(candidates)), len(candidates) - 1)]

    def by_role(self) -> int:
        """For kill_* and pause_*: the leader, a follower, or any node."""
        role = self.planned.kind.split("_")[1]
        if role == "leader":
            return self.leader
        return self.choose(self.followers if role == "follower" else list(range(self.nodes)))


@dataclass
class ClusterFaults:
    cluster: LocalCluster
    lab: NetworkLab | None  # None: no partitions (nodes on loopback)
    paused: set[int] = field(default_factory=set)

    def prepare(self, planned: PlannedFault, leader: int) -> Fault:
        make = _MAKERS.get(planned.kind)
        if make is None:
            raise ValueError(f"unknown fault {planned.kind}")
        return make(self, Aim(planned, leader, self.cluster.nodes))

    def ids(self, indexes: list[int]) -> list[str]:
        return [self.cluster.specs[i].node_id for i in indexes]

    def network(self) -> NetworkLab:
        assert self.lab is not None, "partition faults are only planned with namespaces"
        return self.lab

    def pause(self, index: int) -> None:
        self.paused.add(index)
        self.cluster.signal_node(index, signal.SIGSTOP)

    def resume(self, index: int) -> None:
        self.cluster.signal_node(index, signal.SIGCONT)
        self.paused.discard(index)

    def stop_all(self, crash: bool) -> None:
        cluster = self.cluster
        if crash:
            # SIGKILL to every node first: they die together, as in a power cut.
            for index in range(cluster.nodes):
                cluster.signal_node(index, signal.SIGKILL)
            for index in range(cluster.nodes):
                cluster.kill_node(index)
            return
        # SIGTERM to every node first, so they stop together rather than one by one.
        for index in range(cluster.nodes):
            cluster.signal_node(index, signal.SIGTERM)
        for index in range(cluster.nodes):
            cluster.stop_node(index)

    def release_everything(self) -> None:
        """Whatever happened: links healed, paused nodes continued, stopped nodes started."""
        if self.lab is not None:
            self.lab.heal()
        for index in list(self.paused):
            self.resume(index)
        for index in range(self.cluster.nodes):
            if not self.cluster.is_running(index):
                self.cluster.start_node(index)


def _role_word(aim: Aim, target: int) -> str:
    return "leader" if target == aim.leader else "follower"


def _kill(faults: ClusterFaults, aim: Aim) -> Fault:
    target = aim.by_role()
    return Fault(functools.partial(faults.cluster.kill_node, target),
                 functools.partial(faults.cluster.start_node, target),
                 faults.ids([target]), _role_word(aim, target))


def _pause(faults: ClusterFaults, aim: Aim) -> Fault:
    target = aim.by_role()
    return Fault(functools.partial(faults.pause, target), functools.partial(faults.resume, target),
                 faults.ids([target]), _role_word(aim, target))


def _isolate(faults: ClusterFaults, aim: Aim) -> Fault:
    lab = faults.network()
    target = aim.leader if aim.planned.kind == kinds.ISOLATE_LEADER else aim.choose(aim.followers)
    rest = faults.ids([i for i in range(aim.nodes) if i != target])
    name = faults.ids([target])[0]
    return Fault(functools.partial(lab.isolate, target), lab.heal, [name],
                 f"{name} | {' '.join(rest)}")


def _bridge(faults: ClusterFaults, aim: Aim) -> Fault:
    lab = faults.network()
    follower = aim.choose(aim.followers)
    leader_id, follower_id = faults.ids([aim.leader, follower])
    third = ", ".join(faults.ids([i for i in aim.followers if i != follower]))
    return Fault(functools.partial(lab.partition, [aim.leader], [follower]), lab.heal,
                 [leader_id, follower_id],
                 f"link {leader_id} <-> {follower_id} cut; {third} sees both")


def _restart_cluster(faults: ClusterFaults, aim: Aim) -> Fault:
    crash = aim.planned.pick < 0.5
    return Fault(functools.partial(faults.stop_all, crash), faults.cluster.start,
                 faults.ids(list(range(aim.nodes))),
                 "kill -9 of every node" if crash else "SIGTERM to every node")


def _power_cut(faults: ClusterFaults, aim: Aim) -> Fault:
    if faults.cluster.env.get(UNSYNCED_WRITES_ENV) != UNSYNCED_WRITES_BUFFER:
        raise ValueError("a power cut needs nodes in the test I/O mode (ChaosOptions.power_cut)")
    return Fault(functools.partial(faults.stop_all, True), faults.cluster.start,
                 faults.ids(list(range(aim.nodes))),
                 "power cut: kill -9 of every node, unsynced writes lost")


_MAKERS: dict[str, Callable[[ClusterFaults, Aim], Fault]] = {
    **dict.fromkeys(kinds.KILLS, _kill),
    **dict.fromkeys(kinds.PAUSES, _pause),
    kinds.ISOLATE_LEADER: _isolate,
    kinds.ISOLATE_FOLLOWER: _isolate,
    kinds.BRIDGE: _bridge,
    kinds.RESTART_CLUSTER: _restart_cluster,
    kinds.POWER_CUT: _power_cut,
}
