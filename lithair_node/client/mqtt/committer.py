"""Writing a batch of messages, and what becomes of each message.

JSON readings and line-protocol messages of a batch are written separately (a batch of
readings, and one /api/v2/write), each under the hash of its body as Idempotency-Key.
On a 400, 413 or 422 for either (readings the node refuses), every message is sent
again as a batch of its own: the refused ones are dead-lettered with the node's error, the
rest are stored. A failure that is not a refusal (no leader within the deadline, an
unknown outcome, a wrong token) settles nothing: the messages stay unacked and come back
after a reconnect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lithair_node.client.cluster_client import ACKED, FAILED, ClusterClient, SendResult
from lithair_node.client.mqtt.batches import Message, batch_key
from lithair_node.client.mqtt.counters import BridgeCounters

# Statuses that refuse the readings themselves (undecodable, too large, invalid). Any other
# 4xx (401/403: a wrong token, 404: no such route) is the bridge's fault, not the message's:
# dead-lettering would throw good readings away.
_REFUSES_READINGS = frozenset({400, 413, 422})
_BUCKET = "mqtt"  # /api/v2/write requires one; the node has one namespace and ignores it
_Send = Callable[[list[Message]], Awaitable[SendResult]]


class CommitFailed(Exception):
    """Nothing refused, nothing surely committed: reconnect to have the messages again."""


@dataclass
class Committer:
    client: ClusterClient
    counters: BridgeCounters
    lp_precision: str = "ns"

    async def commit(self, messages: list[Message]) -> None:
        """Store what can be stored; set `reason` on each message that never can be.
        JSON readings go as one batch, line-protocol messages as one write.
        Raises CommitFailed when the outcome is not settled."""
        await self._commit([m for m in messages if m.readings is not None], self._send_readings)
        await self._commit([m for m in messages if m.lines is not None], self._send_lines)

    async def _commit(self, messages: list[Message], send: _Send) -> None:
        if not messages:
            return
        result = await send(messages)
        if result.status == ACKED:
            return
        if not _refused(result):
            raise CommitFailed(result.error or result.status)
        for message in messages:
            alone = await send([message])
            if _refused(alone):
                message.reason = f"refused by the node: {_error_text(alone)}"
            elif alone.status != ACKED:
                raise CommitFailed(alone.error or alone.status)

    async def _send_readings(self, messages: list[Message]) -> SendResult:
        readings = [r for m in messages for r in m.readings or ()]
        body, content_type = self.client.encode(readings)
        result = await self.client.post_encoded(body, content_type, len(readings),
                                                batch_key(body))
        if result.status == ACKED:
            self._count(result.response or {}, len(readings))
        return result

    async def _send_lines(self, messages: list[Message]) -> SendResult:
        body = b"\n".join(m.lines or b"" for m in messages)
        points = sum(m.points for m in messages)
        result = await self.client.post_line_protocol(body, points, batch_key(body),
                                                      precision=self.lp_precision, bucket=_BUCKET)
        if result.status == ACKED:  # a 204 says neither stored nor duplicates
            self.counters.readings_sent += points
            self.counters.batches += 1
        return result

    def _count(self, answer: dict[str, Any], readings: int) -> None:
        self.counters.readings_sent += readings
        self.counters.batches += 1
        if answer.get("duplicate_batch"):
            self.counters.duplicates += readings
            return
        self.counters.stored += int(answer.get("accepted", 0))
        self.counters.duplicates += int(answer.get("duplicates", 0))


def _refused(result: SendResult) -> bool:
    """The node refused these readings: sending them again can never succeed."""
    return (result.status == FAILED and bool(result.trail)
            and result.trail[-1].status in _REFUSES_READINGS)


def _error_text(result: SendResult) -> str:
    """The node's message: `{"error": {"message"}}` for batches, InfluxDB's `{"message"}`
    for line protocol."""
    body = result.response if isinstance(result.response, dict) else {}
    error = body.get("error", body)
    if isinstance(error, dict) and "message" in error:
        return f"{result.error}: {error['message']}"
    return str(result.error)
