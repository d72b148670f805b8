"""Where the time of one leader kill goes: the nodes' election-trace lines (node/raft/
election_trace.py) and the client's attempts, on one clock (CLOCK_MONOTONIC, shared by every
process of the machine), as offsets from the kill.

Used by `scripts/bench_failover.py --trace`: each kill round gets a `timeline` (every event,
in order) and `phases` (the milestones below, seconds after the kill):
- last_append_heard: the latest moment a surviving node had heard its (old) leader, as
  that node counts it (its pre-vote or connection-loss line gives the age);
- connection_lost: the first survivor that saw its connection to the leader close;
- pre_vote_start / pre_vote_won / campaign / became_leader / first_commit: the first such
  event in the new term;
- first_ack_attempt: when the attempt that got the first ack of the new term started, and
  first_ack: its answer (the client's side).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lithair_node.client.cluster_client import SendResult
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.node.raft.election_trace import parse

_MILESTONES = ("pre_vote_start", "pre_vote_won", "campaign", "became_leader", "first_commit")


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return []


def node_events(cluster: LocalCluster, start: float, end: float) -> list[dict[str, Any]]:
    """Every trace line of every node with start <= t <= end, in time order."""
    events = []
    for spec in cluster.specs:
        for line in _read_lines(spec.data_dir / "node.log"):
            parsed = parse(line)
            if parsed is None or not start <= parsed[0] <= end:
                continue
            at, event, fields = parsed
            events.append({"t": at, "node": spec.node_id, "event": event, **fields})
    return sorted(events, key=lambda e: e["t"])


def kill_timeline(cluster: LocalCluster, kill_at: float, new_term: int | None,
                  ack: SendResult | None, before_s: float = 2.5) -> dict[str, Any]:
    end = ack.finished + 0.2 if ack is not None else kill_at + 30
    events = node_events(cluster, kill_at - before_s, end)
    after = [e for e in events if e["t"] >= kill_at]
    phases: dict[str, float | None] = {}
    heard = [e["t"] - float(e["heard_ago"]) for e in after
             if e["event"] in ("pre_vote_start", "leader_connection_lost")
             and e.get("heard_ago") not in (None, "None")]
    phases["last_append_heard"] = round(max(heard) - kill_at, 4) if heard else None
    lost = [e["t"] for e in after if e["event"] == "leader_connection_lost"]
    phases["connection_lost"] = round(min(lost) - kill_at, 4) if lost else None
    for name in _MILESTONES:
        found = [e["t"] for e in after if e["event"] == name and
                 (new_term is None or e.get("term") in (None, str(new_term)))]
        phases[name] = round(min(found) - kill_at, 4) if found else None
    if ack is not None and ack.trail:
        phases["first_ack_attempt"] = round(ack.trail[-1].started - kill_at, 4)
        phases["first_ack"] = round(ack.finished - kill_at, 4)
    client = [] if ack is None else [
        {"t": round(a.started - kill_at, 4), "elapsed_s": round(a.elapsed_s, 4), "url": a.url,
         "status": a.status, "code": a.code} for a in ack.trail]
    for event in events:
        event["t"] = round(event["t"] - kill_at, 4)
    return {"phases": phases, "timeline": events, "first_ack_trail": client}


def describe(phases: dict[str, float | None]) -> str:
    return " ".join(f"{name}={value:.3f}" for name, value in phases.items() if value is not None)
