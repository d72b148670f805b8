"""Messages as they arrive, grouped into batches of up to N readings or T ms, and the
Idempotency-Key of a batch."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass
class Message:
    """One received publish. `generation` is the connection it came on: a PUBACK is only
    sent on that connection (after a reconnect the broker redelivers it anyway)."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    generation: int
    readings: list[dict[str, Any]] | None = None  # a JSON payload's
    lines: bytes | None = None  # a line-protocol payload, for the node's /api/v2/write
    reason: str | None = None  # why it is dead-lettered
    points: int = 0  # readings or lines: what a batch is cut by



def batch_key(body: bytes) -> str:
    """The key is the hash of the encoded body: the same readings sent again (a retry, or
    the same messages redelivered after a crash) get the same key, and a key can never
    come back with a different body (which the node would refuse with a 422). Message ids
    are not used: the broker numbers a redelivery differently from other publishes, and
    batch boundaries move after a restart; the node's (sensor, timestamp) dedup makes a
    re-sent reading harmless whatever key it comes under."""
    return "mqtt-" + hashlib.blake2b(body, digest_size=16).hexdigest()


async def next_batch(queue: asyncio.Queue[Message], max_readings: int,
                     max_wait_s: float) -> list[Message]:
    """Wait for one message, then take more until `max_readings` readings are held or
    `max_wait_s` has passed since the first."""
    batch = [await queue.get()]
    held = batch[0].points
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait_s
    while held < max_readings:
        try:
            message = await asyncio.wait_for(queue.get(), deadline - loop.time())
        except TimeoutError:
            break
        batch.append(message)
        held += message.points
    return batch
