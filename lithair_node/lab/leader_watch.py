"""Watch every node's Raft view while a drill runs: who leads, in which term, since when.

One polling thread per node (a SIGSTOPped node delays only its own thread), each asking
GET /api/v1/cluster/status every `period_s` and recording a change of role, term or leader
as an event. Used by the failover demo, the failover benchmark and the tests to time
"kill -> new leader" from the outside, as a client would see it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lithair_node.client.blocking_api import BlockingNodeApi
from lithair_node.client.node_api import NO_ANSWER, ApiError


@dataclass(frozen=True)
class RoleEvent:
    at: float  # time.monotonic() of the first poll that saw it
    node: str  # URL
    node_id: str | None
    role: str  # leader / follower / candidate / unreachable
    term: int | None
    leader_id: str | None

    def describe(self, origin: float) -> str:
        if self.role == "unreachable":
            return f"+{self.at - origin:7.3f}s  {self.node_id or self.node}: unreachable"
        return (f"+{self.at - origin:7.3f}s  {self.node_id}: {self.role:9} term {self.term}, "
                f"leader {self.leader_id or '-'}")


class NodePollers:
    """One daemon thread per node URL, each running `_poll(url)` until stop(): a node that
    hangs (SIGSTOP, partition) delays only its own thread."""

    thread_name = "poll"

    def __init__(self, urls: list[str], period_s: float, timeout_s: float) -> None:
        self.urls = list(urls)
        self.period_s = period_s
        self.timeout_s = timeout_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> NodePollers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> NodePollers:
        for url in self.urls:
            thread = threading.Thread(target=self._poll, args=(url,), daemon=True,
                                      name=f"{self.thread_name}-{url}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 2)

    def _poll(self, url: str) -> None:
        raise NotImplementedError


class LeaderWatch(NodePollers):
    thread_name = "watch"

    def __init__(self, urls: list[str], period_s: float = 0.02, timeout_s: float = 0.5) -> None:
        super().__init__(urls, period_s, timeout_s)
        self.events: list[RoleEvent] = []
        self.latest: dict[str, RoleEvent] = {}
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def _poll(self, url: str) -> None:
        with BlockingNodeApi(url, timeout_s=self.timeout_s) as node:
            while not self._stop.is_set():
                self._observe(url, node)
                self._stop.wait(self.period_s)

    def _observe(self, url: str, node: BlockingNodeApi) -> None:
        try:
            body: dict[str, Any] | None = node.cluster_status()
        except (ApiError, *NO_ANSWER):
            body = None
        now = time.monotonic()
        if body is not None:
            self._ids[url] = body["node_id"]
            leader = body.get("leader") or {}
            event = RoleEvent(now, url, body["node_id"], body["role"], body["term"],
                              leader.get("node_id"))
        else:
            event = RoleEvent(now, url, self._ids.get(url), "unreachable", None, None)
        with self._changed:
            previous = self.latest.get(url)
            if previous is None or (previous.role, previous.term, previous.leader_id) != (
                    event.role, event.term, event.leader_id):
                self.events.append(event)
                self.latest[url] = event
                self._changed.notify_all()

    def wait_for(self, predicate: Callable[[dict[str, RoleEvent]], Any],
                 timeout_s: float) -> Any:
        """Block until predicate(latest per node) is truthy; return its value."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                value = predicate(dict(self.latest))
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met in {timeout_s} s: "
                                       f"{[e.describe(0) for e in self.latest.values()]}")
                self._changed.wait(remaining)

    def leader(self) -> RoleEvent | None:
        """The node that says it leads with the highest term, if any."""
        with self._lock:
            leaders = [e for e in self.latest.values() if e.role == "leader"]
        return max(leaders, key=lambda e: e.term or 0, default=None)

    def wait_leader(self, timeout_s: float, *, min_term: int = 0,
                    exclude: str | None = None) -> RoleEvent:
        """Wait for a leader with term >= min_term (not at URL `exclude`) that every other
        reachable node (but `exclude`) follows."""

        def elected(latest: dict[str, RoleEvent]) -> RoleEvent | None:
            live = [e for u, e in latest.items() if u != exclude and e.role != "unreachable"]
            leaders = [e for e in live if e.role == "leader" and (e.term or 0) >= min_term]
            if len(leaders) != 1:
                return None
            chosen = leaders[0]
            if all(e.leader_id == chosen.node_id and e.term == chosen.term for e in live):
                return chosen
            return None

        return self.wait_for(elected, timeout_s)

    def first_event(self, predicate: Callable[[RoleEvent], bool], after: float) -> RoleEvent | None:
        with self._lock:
            return next((e for e in self.events if e.at >= after and predicate(e)), None)

    def timeline(self, origin: float, after: float | None = None) -> list[str]:
        with self._lock:
            return [e.describe(origin) for e in self.events if after is None or e.at >= after]
