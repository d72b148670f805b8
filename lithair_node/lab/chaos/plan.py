"""A seeded, random fault schedule: which faults, in which order, when, for how long.

The schedule is a pure function of (seed, count, duration, whether the network can be cut),
so a run can be repeated. Which node a fault hits is decided when it is applied (who leads
then is not known in advance) from a draw made here: `pick` in [0, 1).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

KILL_LEADER, KILL_FOLLOWER, KILL_ANY = "kill_leader", "kill_follower", "kill_any"
PAUSE_LEADER, PAUSE_FOLLOWER, PAUSE_ANY = "pause_leader", "pause_follower", "pause_any"
ISOLATE_LEADER, ISOLATE_FOLLOWER, BRIDGE = "isolate_leader", "isolate_follower", "bridge"
RESTART_CLUSTER = "restart_cluster"
# kill -9 of every node whose unsynced writes live only in its process (the test I/O mode
# LITHAIR_TEST_UNSYNCED_WRITES=buffer): what a power cut of the whole cluster leaves.
POWER_CUT = "power_cut"

KILLS = (KILL_LEADER, KILL_FOLLOWER, KILL_ANY)
PAUSES = (PAUSE_LEADER, PAUSE_FOLLOWER, PAUSE_ANY)
# With 3 nodes a 1|2 split is one node cut off from the two others: the leader or a follower.
# A bridge cuts one link only (leader <-> a follower; the third node still sees both).
PARTITIONS = (ISOLATE_LEADER, ISOLATE_FOLLOWER, BRIDGE)
ALL_KINDS = (*KILLS, *PAUSES, *PARTITIONS, RESTART_CLUSTER, POWER_CUT)

# How long each kind of fault lasts (seconds, uniform): a killed node stays down, a paused
# one stopped, a cut link cut.
HOLD_S = {
    **dict.fromkeys(KILLS, (0.5, 5.0)),
    **dict.fromkeys(PAUSES, (1.0, 10.0)),
    **dict.fromkeys(PARTITIONS, (2.0, 10.0)),
    RESTART_CLUSTER: (0.5, 3.0),
    POWER_CUT: (0.5, 3.0),
}

WARMUP_S = 3.0  # load before the first fault


@dataclass(frozen=True)
class PlannedFault:
    number: int  # 1-based
    kind: str
    at_s: float  # planned start, seconds after the load started
    hold_s: float
    pick: float  # chooses the node(s) among the candidates when applied

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(at_s=round(self.at_s, 3), hold_s=round(self.hold_s, 3), pick=round(self.pick, 4))
        return data


def available_kinds(network: bool, power_cut: bool = False) -> tuple[str, ...]:
    """Partitions need network namespaces; a power cut needs nodes in the test I/O mode."""
    return tuple(k for k in ALL_KINDS if (network or k not in PARTITIONS)
                 and (power_cut or k != POWER_CUT))


def plan_faults(seed: int, count: int, duration_s: float, *, network: bool,
                required: Iterable[str] = (), power_cut: bool = False) -> list[PlannedFault]:
    """`count` faults spread over `duration_s`: one per slot of (duration - warmup) / count
    seconds, each starting at a random point of the first third of its slot. Kinds in
    `required` (those possible here) appear at least once; the rest are drawn at random;
    the order is shuffled. Partitions only when `network`, power cuts only when
    `power_cut`."""
    if count < 1:
        raise ValueError("at least one fault")
    rng = random.Random(seed)
    kinds = available_kinds(network, power_cut)
    wanted = [k for k in dict.fromkeys(required) if k in kinds]
    unknown = set(required) - set(ALL_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
    if len(wanted) > count:
        raise ValueError(f"{count} faults cannot include all of {wanted}")
    chosen = wanted + [rng.choice(kinds) for _ in range(count - len(wanted))]
    rng.shuffle(chosen)
    slot = max(duration_s - WARMUP_S, 0.0) / count
    plan = []
    for number, kind in enumerate(chosen, start=1):
        low, high = HOLD_S[kind]
        plan.append(PlannedFault(
            number=number, kind=kind,
            at_s=WARMUP_S + (number - 1) * slot + rng.uniform(0, slot / 3),
            hold_s=rng.uniform(low, high),
            pick=rng.random(),
        ))
    return plan
