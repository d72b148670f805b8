"""The stream hub in-process: a real StateMachine applying real entries, handed over from
another thread as the Raft thread does; ring eviction (gap), resumption, slow-client drop."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import orjson
import pytest

from lithair_node.machine.commands import encode_ingest, make_encoded_batch
from lithair_node.machine.state import LogEntry, StateMachine
from lithair_node.node.errors import TooManyStreams
from lithair_node.node.ingest.validation import Limits, validate_batch
from lithair_node.node.raft.types import unready_status
from lithair_node.node.stream import sse
from lithair_node.node.stream.entries import ReadingFilter
from lithair_node.node.stream.hub import HubLimits, StreamHub
from lithair_node.node.stream.subscriber import StreamOptions, Subscriber

EVERYTHING = StreamOptions(ReadingFilter(), frozenset({sse.READINGS}), max_rate=10_000, max_readings=100)


class FakeRaft:
    def __init__(self) -> None:
        self.on_applied: list = []
        self.config = SimpleNamespace(raft_address="127.0.0.1:1")

    def status(self):
        return unready_status()


def payload(sensor: str, ts: int, readings: int = 1) -> bytes:
    columns, received = validate_batch({"readings": [
        {"sensor_id": sensor, "timestamp": ts + i, "temperature": 1.0 + i} for i in range(readings)]},
        Limits())
    return encode_ingest([make_encoded_batch(columns, None, received)])


async def apply_on_a_thread(state: StateMachine, raft: FakeRaft, first: int, count: int,
                            readings: int = 1) -> None:
    """Apply entries first..first+count-1 on another thread, calling the listeners as
    syncobj.ReplicatedLog.apply_envelope does; return once the loop has received them."""

    def raft_thread() -> None:
        for index in range(first, first + count):
            data = payload("s", index * 1000, readings)
            result = state.apply(LogEntry(index, 1, data))
            for listener in raft.on_applied:
                listener(index, 1, data, result)

    thread = threading.Thread(target=raft_thread)
    thread.start()
    await asyncio.to_thread(thread.join)
    await asyncio.sleep(0)  # the call_soon_threadsafe callbacks and the flush
    await asyncio.sleep(0)


async def subscribed_handler(hub: StreamHub) -> tuple[Subscriber, asyncio.Task[None]]:
    """A subscriber owned by a task of its own, as a stream handler is (a drop cancels it)."""
    ready: asyncio.Future[Subscriber] = asyncio.get_running_loop().create_future()

    async def handler() -> None:
        ready.set_result(hub.subscribe(EVERYTHING, None)[0])
        await asyncio.Event().wait()

    task = asyncio.create_task(handler())
    return await ready, task


def ids(frames: list[bytes]) -> list[int]:
    return [int(f.split(b"\n", 1)[0].removeprefix(b"id: ")) for f in frames if f.startswith(b"id:")]


async def test_resume_replays_held_entries_and_announces_a_gap_before_them() -> None:
    state, raft = StateMachine(), FakeRaft()
    hub = StreamHub(state, raft, HubLimits(ring_entries=5))
    await hub.start()
    try:
        await apply_on_a_thread(state, raft, 1, 8)  # the ring keeps 4..8
        _, held = hub.subscribe(EVERYTHING, last_event_id=5)
        assert held.gap is None and [e.index for e in held.entries] == [6, 7, 8]
        subscriber, old = hub.subscribe(EVERYTHING, last_event_id=1)
        assert old.gap == {"last_event_id": 1, "oldest_held": 4, "applied_index": 8}
        frames = [f for e in old.entries for f in subscriber.frames_of(e, [], None)]
        assert ids(frames) == [4, 5, 6, 7, 8]
        body = orjson.loads(frames[0].split(b"data: ", 1)[1])
        assert body["readings"][0]["timestamp_us"] == 4000 * 1_000_000
    finally:
        await hub.stop()


async def test_live_entries_reach_subscribers_and_a_full_queue_drops_only_its_client() -> None:
    state, raft = StateMachine(), FakeRaft()
    hub = StreamHub(state, raft, HubLimits(queue_frames=3, max_clients=2))
    await hub.start()
    try:
        slow, slow_handler = await subscribed_handler(hub)
        fast, fast_handler = await subscribed_handler(hub)
        with pytest.raises(TooManyStreams):
            hub.subscribe(EVERYTHING, None)
        for first in range(1, 11, 2):
            await apply_on_a_thread(state, raft, first, 2)
            while not fast._frames.empty():  # the fast one reads as it comes
                await fast.next_frame()
        assert slow.dropped and not fast.dropped
        await asyncio.sleep(0)
        assert slow_handler.cancelled() and not fast_handler.done()
        fast_handler.cancel()
        assert hub.figures()["clients"] == 1 and hub.dropped_total == 1
        assert state.applied_index == 10
    finally:
        await hub.stop()


async def test_sampling_keeps_at_most_max_rate_events_and_counts_the_rest() -> None:
    state, raft = StateMachine(), FakeRaft()
    hub = StreamHub(state, raft, HubLimits())
    await hub.start()
    try:
        sampled, _ = hub.subscribe(StreamOptions(ReadingFilter(), frozenset({sse.READINGS}),
                                                 max_rate=2, max_readings=100), None)
        await apply_on_a_thread(state, raft, 1, 6)
        frames = [sampled._frames.get_nowait() for _ in range(sampled._frames.qsize())]
        assert ids(frames) == [1, 2]  # a burst of one second's worth, then nothing
    finally:
        await hub.stop()


async def test_figures_describe_every_entry_applied_so_far_without_waiting_for_a_drain() -> None:
    state, raft = StateMachine(), FakeRaft()
    hub = StreamHub(state, raft, HubLimits())
    hub.DRAIN_S = 3600.0  # no periodic drain in this test: only figures() can take them
    await hub.start()
    try:
        await apply_on_a_thread(state, raft, 1, 3)
        figures = hub.figures()
        assert (figures["held_entries"], figures["oldest_held"]) == (3, 1)
    finally:
        await hub.stop()
