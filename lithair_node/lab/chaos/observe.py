"""What the harness watches while faults run, seen from outside as a client would:

- ReadWatch: one thread per node polling GET /api/v1/stats; across that node's 200 answers
  (its restarts included) `applied_index` and `total_readings` must never decrease. A 503
  `starting` (a restarted node still catching up) is not a read, and neither is a timeout.
- leaderless_intervals: from LeaderWatch's role changes, when no node led with a majority
  following it in its term.
- election_safety: at most one leader per term (a Raft guarantee, checked from what each
  node said of itself).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from lithair_node import api
from lithair_node.client.blocking_api import BlockingNodeApi
from lithair_node.client.node_api import NO_ANSWER, ApiError
from lithair_node.lab.leader_watch import NodePollers, RoleEvent


@dataclass
class ReadTrack:
    url: str
    answers: int = 0  # 200s: reads
    starting: int = 0  # 503 "starting"
    refused: int = 0  # other answers, or none (down, stopped, timed out)
    last: tuple[int, int] | None = None  # (applied_index, total_readings) of the last read
    highest: tuple[int, int] = (0, 0)
    violations: list[dict[str, Any]] = field(default_factory=list)

    def observe(self, applied_index: int, total_readings: int, at_s: float) -> None:
        """Record one read; a value below the previous read's is a violation."""
        self.answers += 1
        if self.last is not None and (applied_index < self.last[0] or total_readings < self.last[1]):
            self.violations.append({
                "at_s": round(at_s, 3),
                "before": {"applied_index": self.last[0], "total_readings": self.last[1]},
                "after": {"applied_index": applied_index, "total_readings": total_readings},
            })
        self.last = (applied_index, total_readings)
        self.highest = (max(self.highest[0], applied_index), max(self.highest[1], total_readings))

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "reads": self.answers, "starting_503": self.starting,
                "refused_or_unreachable": self.refused,
                "highest_applied_index": self.highest[0],
                "highest_total_readings": self.highest[1],
                "went_backwards": len(self.violations), "violations": self.violations[:20]}


class ReadWatch(NodePollers):
    """Polls every node's /api/v1/stats every `period_s` on a thread per node."""

    thread_name = "reads"

    def __init__(self, urls: list[str], origin: float, period_s: float = 0.05,
                 timeout_s: float = 1.0, token: str | None = None) -> None:
        super().__init__(urls, period_s, timeout_s)
        self.origin = origin
        self.token = token
        self.tracks = {url: ReadTrack(url) for url in urls}

    def _poll(self, url: str) -> None:
        with BlockingNodeApi(url, token=self.token, timeout_s=self.timeout_s) as node:
            while not self._stop.is_set():
                self._read(self.tracks[url], node)
                self._stop.wait(self.period_s)

    def _read(self, track: ReadTrack, node: BlockingNodeApi) -> None:
        try:
            body = node.stats()
        except ApiError as refusal:
            if refusal.status == 503 and refusal.code == api.STARTING:
                track.starting += 1
            else:
                track.refused += 1
        except NO_ANSWER:
            track.refused += 1
        else:
            track.observe(int(body["applied_index"]), int(body["total_readings"]),
                          time.monotonic() - self.origin)

    @property
    def violations(self) -> int:
        return sum(len(t.violations) for t in self.tracks.values())


def has_leader(latest: dict[str, RoleEvent], nodes: int) -> RoleEvent | None:
    """A node that says it leads, with a majority of the cluster (itself included) saying
    they follow it in its term; None if there is none."""
    majority = nodes // 2 + 1
    for event in latest.values():
        if event.role != "leader":
            continue
        support = sum(1 for other in latest.values()
                      if other.role in ("leader", "follower") and other.term == event.term
                      and other.leader_id == event.node_id)
        if support >= majority:
            return event
    return None


def leaderless_intervals(events: list[RoleEvent], nodes: int, start: float,
                         end: float) -> list[tuple[float, float]]:
    """Intervals (monotonic times) within [start, end] with no leader backed by a majority,
    replaying the watch's role changes in time order."""
    latest: dict[str, RoleEvent] = {}
    intervals: list[tuple[float, float]] = []
    down_since: float | None = None
    ordered = sorted(events, key=lambda e: e.at)
    position = 0
    while position < len(ordered) and ordered[position].at <= start:
        latest[ordered[position].node] = ordered[position]
        position += 1
    if has_leader(latest, nodes) is None:
        down_since = start
    for event in ordered[position:]:
        if event.at > end:
            break
        latest[event.node] = event
        leading = has_leader(latest, nodes) is not None
        if leading and down_since is not None:
            intervals.append((down_since, event.at))
            down_since = None
        elif not leading and down_since is None:
            down_since = event.at
    if down_since is not None:
        intervals.append((down_since, end))
    return intervals


def overlap_s(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in intervals)


def election_safety(events: list[RoleEvent]) -> tuple[dict[int, list[str]], list[str]]:
    """Leaders seen per term, and the terms in which more than one node said it led."""
    leaders: dict[int, set[str]] = defaultdict(set)
    for event in events:
        if event.role == "leader" and event.term is not None:
            leaders[event.term].add(str(event.node_id))
    by_term = {term: sorted(ids) for term, ids in sorted(leaders.items())}
    problems = [f"term {term}: {ids} all said they led" for term, ids in by_term.items()
                if len(ids) > 1]
    return by_term, problems
