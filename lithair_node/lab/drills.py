"""Fault drills on a LocalCluster under load: shared by the failover demo, the failover
benchmark and the integration tests, so all three measure the same thing the same way.

A drill = a LocalCluster + a BackgroundInjector writing `checkable_batches` (history.py)
+ a LeaderWatch; `kill_leader()` kills the agreed leader with SIGKILL and times, from the
outside: the kill -> a new leader every live node follows, and the kill -> the first
acknowledgement of an entry committed in the new term.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from lithair_node.client.cluster_client import ClusterClient
from lithair_node.client.inject import BackgroundInjector
from lithair_node.lab.history import History, check_history, checkable_batches
from lithair_node.lab.leader_watch import LeaderWatch
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.polling import wait_until


@dataclass
class FailoverRound:
    killed: str  # node id
    old_term: int
    kill_at: float  # time.monotonic()
    new_leader: str | None = None
    new_term: int | None = None
    new_leader_at: float | None = None
    first_ack_at: float | None = None
    rejoined_at: float | None = None

    @property
    def to_new_leader_s(self) -> float | None:
        return None if self.new_leader_at is None else self.new_leader_at - self.kill_at

    @property
    def to_first_ack_s(self) -> float | None:
        return None if self.first_ack_at is None else self.first_ack_at - self.kill_at

    @property
    def to_rejoined_s(self) -> float | None:
        return None if self.rejoined_at is None else self.rejoined_at - self.kill_at

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("kill_at", "new_leader_at", "first_ack_at", "rejoined_at"):
            data.pop(name)
        data.update(to_new_leader_s=_round(self.to_new_leader_s),
                    to_first_ack_s=_round(self.to_first_ack_s),
                    to_rejoined_s=_round(self.to_rejoined_s))
        return data


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class Drill:
    def __init__(self, cluster: LocalCluster, *, batch_size: int = 50, concurrency: int = 4,
                 rate: float | None = None, deadline_s: float = 60.0,
                 request_timeout_s: float = 6.0, run_id: str | None = None) -> None:
        self.cluster = cluster
        self.run_id = run_id or f"drill-{uuid.uuid4().hex[:8]}"
        self.history = History()
        self.probes = History()  # single writes made by the drill itself (not the load)
        self.watch = LeaderWatch(cluster.urls)
        urls = list(cluster.urls)
        self.load = BackgroundInjector(
            lambda: ClusterClient(urls, deadline_s=deadline_s, request_timeout_s=request_timeout_s),
            checkable_batches(self.run_id, batch_size),
            concurrency=concurrency, rate=rate, key_prefix=self.run_id,
            on_result=self.history.add,
        )
        self.rounds: list[FailoverRound] = []

    def __enter__(self) -> Drill:
        self.watch.start()
        self.load.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.load.running:
            with contextlib.suppress(Exception):  # the drill already failed; keep its error
                self.load.stop()
        self.watch.stop()

    def wait_acked(self, count: int, timeout_s: float = 30.0) -> None:
        """Poll until the history holds `count` more acked batches than now."""
        target = self.history.count("acked") + count

        def acked() -> bool:
            if not self.load.running:
                self.load.stop()  # raises the injector's error
                raise RuntimeError("the load stopped early")
            return self.history.count("acked") >= target

        try:
            wait_until(acked, timeout_s, period_s=0.01)
        except TimeoutError:
            raise TimeoutError(f"fewer than {count} batches acked in {timeout_s} s: "
                               f"{self.history.summary()}") from None

    def kill_leader(self, timeout_s: float = 30.0, restart: bool = True) -> FailoverRound:
        """kill -9 the leader every node agrees on; time the new leader and the first ack of
        the new term; then (restart=True) start it again and wait until it follows."""
        cluster = self.cluster
        leader = self.watch.wait_leader(timeout_s)
        index = cluster.urls.index(leader.node)
        old_term = int(leader.term or 0)
        kill_at = time.monotonic()
        cluster.kill_node(index)
        current = FailoverRound(killed=str(leader.node_id), old_term=old_term, kill_at=kill_at)
        self.rounds.append(current)
        elected = self.watch.wait_leader(timeout_s, min_term=old_term + 1, exclude=leader.node)
        current.new_leader, current.new_term = elected.node_id, elected.term
        # Timed from the first poll that saw it lead (it can commit from then on), not from
        # the moment every live node had noticed.
        first = self.watch.first_event(
            lambda e: e.role == "leader" and (e.term or 0) > old_term, kill_at)
        current.new_leader_at = first.at if first is not None else elected.at
        ack = wait_until(lambda: self.history.first_ack_after(kill_at, old_term + 1), timeout_s,
                         period_s=0.005, what="a write acked in a new term after the kill")
        current.first_ack_at = ack.finished
        if restart:
            cluster.start_node(index)
            self.watch.wait_leader(timeout_s, min_term=old_term + 1)
            cluster.wait_ready(timeout_s=timeout_s)
            current.rejoined_at = time.monotonic()
        return current

    def finish(self, converge_timeout_s: float = 60.0) -> dict[str, Any]:
        """Stop the load (in-flight batches settle), wait until every node has applied the
        same state, and check the history (load and probes) against every node."""
        self.load.stop()
        self.cluster.wait_ready(timeout_s=converge_timeout_s)
        self.cluster.wait_converged(timeout_s=converge_timeout_s)
        report = check_history(self.cluster.urls,
                               self.history.snapshot() + self.probes.snapshot())
        return {"report": report, "summary": self.history.summary()}
