"""The stream hub: receives every applied entry from the Raft thread, keeps a bounded ring of
recent ones for resumption, and fans them out to the subscribers.

The Raft thread does one thing per entry: it appends references (index, term, the payload
bytes, the apply result) to a list, and wakes the loop with `call_soon_threadsafe` only if
no wake-up is already pending. Decoding, filtering, JSON and socket writes all
happen on the event loop, and only for entries someone listens to; a subscriber that does
not keep up overflows its own bounded queue and is dropped, so neither apply nor the other
subscribers ever wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from lithair_node.machine.anomalies import Anomaly
from lithair_node.machine.state import ApplyResult, StateMachine
from lithair_node.node.background import stop_task
from lithair_node.node.errors import TooManyStreams
from lithair_node.node.raft.raft_node import RaftNode
from lithair_node.node.raft.types import RaftStatus
from lithair_node.node.stream import sse
from lithair_node.node.stream.entries import AppliedEntry
from lithair_node.node.stream.subscriber import StreamOptions, Subscriber


@dataclass(frozen=True)
class HubLimits:
    max_clients: int = 32
    ring_entries: int = 4096  # resumable entries, at most...
    ring_bytes: int = 16 * 1024 * 1024  # ...and payload bytes they hold, at most
    queue_frames: int = 256  # per subscriber, before it is dropped...
    queue_bytes: int = 4 * 1024 * 1024  # ...or this many bytes queued


@dataclass
class Resumption:
    """What a new subscriber gets before live events: the gap it missed, if any, and the
    held entries after its Last-Event-ID with their anomalies."""

    gap: dict[str, int] | None
    entries: list[AppliedEntry]
    anomalies: dict[int, list[Anomaly]]


class StreamHub:
    CLUSTER_POLL_S = 0.1
    DRAIN_S = 0.1  # how often the loop takes the entries applied while nobody listened

    def __init__(self, state: StateMachine, raft: RaftNode, limits: HubLimits) -> None:
        self._state = state
        self._raft = raft
        self.limits = limits
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ring: deque[AppliedEntry] = deque()
        self._ring_bytes = 0
        self._pending: list[AppliedEntry] = []
        # Applied entries handed over by the Raft thread, not yet seen by the loop. A deque:
        # its append and popleft are each atomic, so no entry can fall between the threads,
        # whereas swapping a list relied on the Raft thread never being switched out between
        # reading the attribute and appending to the list it read.
        self._handed: deque[tuple[int, int, bytes, ApplyResult]] = deque()
        self._wake_pending = False
        self._subscribers: dict[Subscriber, asyncio.Task[Any] | None] = {}
        self._anomalies_seen_to = 0
        self._watcher: asyncio.Task[None] | None = None
        self._drainer: asyncio.Task[None] | None = None
        self.dropped_total = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._raft.on_applied.append(self._on_raft_thread)
        self._watcher = asyncio.create_task(self._watch_cluster())
        self._drainer = asyncio.create_task(self._drain())

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self._raft.on_applied.remove(self._on_raft_thread)
        await stop_task(self._watcher)
        await stop_task(self._drainer)

    # -- Raft thread: hand the references over, nothing else -------------------------------

    def _on_raft_thread(self, index: int, term: int, payload: bytes, result: ApplyResult) -> None:
        """Queue the references; wake the loop only if someone listens and it has not been
        woken since the last hand-over. One wake-up (a pipe write, a syscall, and the loop
        taking the GIL from this thread) per entry was 3.5% of a follower's samples under
        load, and still 8.7% once coalesced, as an idle loop drains each entry at once.
        With no subscriber the loop takes them every DRAIN_S (the ring, for resumption)
        and when one subscribes, or asks for the figures."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        self._handed.append((index, term, payload, result))
        if self._subscribers and not self._wake_pending:
            self._wake_pending = True
            loop.call_soon_threadsafe(self._hand_over)

    # -- event loop ------------------------------------------------------------------------

    def _hand_over(self) -> None:
        self._wake_pending = False  # before taking: a later append wakes the loop again
        handed = self._handed
        while handed:
            self._received(*handed.popleft())

    def _received(self, index: int, term: int, payload: bytes, result: ApplyResult) -> None:
        entry = AppliedEntry(index, term, payload, result)
        if self._ring and self._ring[-1].index + 1 != index:
            self._forget_ring()  # a snapshot was installed: what we hold is not contiguous
        self._ring.append(entry)
        self._ring_bytes += len(payload)
        while len(self._ring) > self.limits.ring_entries or self._ring_bytes > self.limits.ring_bytes:
            self._ring_bytes -= len(self._ring.popleft().payload)
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(entry)

    def _forget_ring(self) -> None:
        self._ring.clear()
        self._ring_bytes = 0

    def _flush(self) -> None:
        """Fan the entries received since the last flush out to every subscriber."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        first, last = self._anomalies_seen_to, pending[-1].index
        self._anomalies_seen_to = last
        if not self._subscribers:
            return
        anomalies = self._anomalies_between(first, last) if any(
            entry.has_readings for entry in pending) and any(
            sse.ANOMALY in s.options.kinds for s in self._subscribers) else {}
        now = asyncio.get_running_loop().time()
        for entry in pending:
            for subscriber in list(self._subscribers):
                subscriber.offer(entry, anomalies.get(entry.index, []), now)
            entry.release()

    def _anomalies_between(self, after: int, up_to: int) -> dict[int, list[Anomaly]]:
        by_index: dict[int, list[Anomaly]] = defaultdict(list)
        for record in self._state.anomalies()[3]:
            if after < record.raft_index <= up_to:
                by_index[record.raft_index].append(record)
        return by_index

    def subscribe(self, options: StreamOptions, last_event_id: int | None) -> tuple[Subscriber, Resumption]:
        """Register a subscriber (TooManyStreams past the bound) and say what it resumes."""
        if len(self._subscribers) >= self.limits.max_clients:
            raise TooManyStreams(f"this node already serves {self.limits.max_clients} streams; "
                                 "try another node or later", retry_after=5)
        self._hand_over()  # every entry applied so far is in the ring...
        self._flush()  # ...and what is pending now is replayed below, not delivered live
        subscriber = Subscriber(options, self.limits.queue_frames, self.limits.queue_bytes,
                                self._drop)
        self._subscribers[subscriber] = asyncio.current_task()
        if sse.CLUSTER in options.kinds:
            subscriber.push(sse.frame(sse.CLUSTER, self.cluster_view("state")))
        return subscriber, self._resumption(last_event_id)

    def _resumption(self, last_event_id: int | None) -> Resumption:
        if last_event_id is None:
            return Resumption(None, [], {})
        applied = self._ring[-1].index if self._ring else self._state.applied_index
        oldest = self._ring[0].index if self._ring else applied + 1
        gap = None
        if last_event_id + 1 < oldest and last_event_id < applied:
            gap = {"last_event_id": last_event_id, "oldest_held": oldest, "applied_index": applied}
        entries = [entry for entry in self._ring if entry.index > last_event_id]
        anomalies = self._anomalies_between(last_event_id, applied) if entries else {}
        return Resumption(gap, entries, anomalies)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.pop(subscriber, None)

    def _drop(self, subscriber: Subscriber) -> None:
        self.dropped_total += 1
        task = self._subscribers.pop(subscriber, None)
        if task is not None:
            task.cancel()  # its handler may be blocked writing to a socket nobody reads

    def figures(self) -> dict[str, Any]:
        """Called on the loop. Takes the entries handed over since the last drain first, so
        the ring it describes holds everything applied so far, as a subscriber would find."""
        self._hand_over()
        return {"clients": len(self._subscribers), "max_clients": self.limits.max_clients,
                "dropped_total": self.dropped_total, "held_entries": len(self._ring),
                "oldest_held": self._ring[0].index if self._ring else None,
                "held_bytes": self._ring_bytes}

    async def _drain(self) -> None:
        while True:
            await asyncio.sleep(self.DRAIN_S)
            if self._handed:
                self._hand_over()

    # -- cluster events --------------------------------------------------------------------

    def cluster_view(self, kind: str, status: RaftStatus | None = None) -> dict[str, Any]:
        status = status or self._raft.status()
        members = self._state.members()
        leader = members.get(status.leader or "", {})
        return {"kind": kind, "role": status.role, "term": status.term,
                "leader": status.leader, "leader_node_id": leader.get("node_id"),
                "leader_http_url": leader.get("http"),
                "members": sorted({self._raft.config.raft_address,
                                   *(p.raft_address for p in status.peers)}),
                "commit_index": status.commit_index, "applied_index": status.applied_index}

    async def _watch_cluster(self) -> None:
        """Leader and member changes, from the Raft status the sampler publishes."""
        seen = self._raft.status()
        while True:
            await asyncio.sleep(self.CLUSTER_POLL_S)
            now = self._raft.status()
            changes = []
            if (now.leader, now.term) != (seen.leader, seen.term):
                changes.append("leader")
            if {p.raft_address for p in now.peers} != {p.raft_address for p in seen.peers}:
                changes.append("members")
            seen = now
            if changes and self._subscribers:
                data = sse.frame(sse.CLUSTER, self.cluster_view("+".join(changes), now))
                for subscriber in list(self._subscribers):
                    if sse.CLUSTER in subscriber.options.kinds:
                        subscriber.push(data)
