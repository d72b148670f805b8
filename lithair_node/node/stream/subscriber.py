"""One stream client: what it wants, its sampling budget and its bounded queue of frames.
Everything here runs on the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from lithair_node.machine.anomalies import Anomaly
from lithair_node.node.queries.anomaly_rows import anomaly_row
from lithair_node.node.stream import sse
from lithair_node.node.stream.entries import AppliedEntry, ReadingFilter


@dataclass(frozen=True)
class StreamOptions:
    wanted: ReadingFilter
    kinds: frozenset[str]
    max_rate: float  # readings events per second, at most (live; a resume replays them all)
    max_readings: int  # readings per event, at most (the event says how many matched)


class Subscriber:
    def __init__(self, options: StreamOptions, queue_frames: int, queue_bytes: int,
                 on_overflow: Callable[[Subscriber], None]) -> None:
        self.options = options
        self._frames: asyncio.Queue[bytes] = asyncio.Queue(queue_frames)
        self._queue_bytes = queue_bytes
        self._queued_bytes = 0
        self.dropped = False
        self._on_overflow = on_overflow
        self._tokens = options.max_rate  # a token bucket: bursts of up to one second's worth
        self._refilled_at: float | None = None
        self._skipped = 0  # live entries with matching readings left out by sampling

    def push(self, data: bytes) -> None:
        if self.dropped:
            return
        try:
            if self._queued_bytes + len(data) > self._queue_bytes:
                raise asyncio.QueueFull
            self._frames.put_nowait(data)
            self._queued_bytes += len(data)
        except asyncio.QueueFull:  # it does not read fast enough: never wait for it
            self.dropped = True
            self._on_overflow(self)

    async def next_frame(self) -> bytes:
        data = await self._frames.get()
        self._queued_bytes -= len(data)
        return data

    def offer(self, entry: AppliedEntry, anomalies: list[Anomaly], now: float) -> None:
        """A live applied entry: sampled, queued."""
        for data in self.frames_of(entry, anomalies, now):
            self.push(data)

    def frames_of(self, entry: AppliedEntry, anomalies: list[Anomaly],
                  now: float | None) -> list[bytes]:
        """This client's events for one entry; `now` is None when replayed (no sampling)."""
        frames = []
        if sse.READINGS in self.options.kinds and entry.has_readings:
            readings = self._readings_frame(entry, now)
            if readings is not None:
                frames.append(readings)
        if sse.ANOMALY in self.options.kinds:
            wanted = self.options.wanted
            frames.extend(
                sse.frame(sse.ANOMALY, anomaly_row(record), entry.index) for record in anomalies
                if (not wanted.sensor_ids or record.sensor_id in wanted.sensor_ids)
                and (not wanted.metrics or any(m[0] in wanted.metrics for m in record.metrics)))
        return frames

    def _readings_frame(self, entry: AppliedEntry, now: float | None) -> bytes | None:
        rows, matched = entry.readings(self.options.wanted, self.options.max_readings)
        if not matched:
            return None
        if now is not None and not self._take_token(now):
            self._skipped += 1
            return None
        data = sse.frame(sse.READINGS, {"index": entry.index, "term": entry.term,
                                        "matched": matched, "readings": rows,
                                        "skipped_entries": self._skipped}, entry.index)
        self._skipped = 0
        return data

    def _take_token(self, now: float) -> bool:
        rate = self.options.max_rate
        if self._refilled_at is not None:
            self._tokens = min(rate, self._tokens + (now - self._refilled_at) * rate)
        self._refilled_at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
