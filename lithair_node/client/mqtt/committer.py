"""Writing a batch of messages, and what becomes of each message.

On a 4xx for the batch (a reading the node refuses), every message is sent again as a
batch of its own: the refused ones are dead-lettered with the node's error, the rest are
stored. A failure that is not a refusal (no leader within the deadline, an unknown
outcome) settles nothing: the messages stay unacked and come back after a reconnect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lithair_node.client.cluster_client import ACKED, FAILED, ClusterClient, SendResult
from lithair_node.client.mqtt.batches import Message, batch_key
from lithair_node.client.mqtt.counters import BridgeCounters

_NOT_REFUSALS = frozenset({408, 429})


class CommitFailed(Exception):
    """Nothing refused, nothing surely committed: reconnect to have the messages again."""


@dataclass
class Committer:
    client: ClusterClient
    counters: BridgeCounters

    async def commit(self, messages: list[Message]) -> None:
        """Store what can be stored; set `reason` on each message that never can be.
        Raises CommitFailed when the outcome is not settled."""
        decoded = [m for m in messages if m.readings is not None]
        if not decoded:
            return
        result = await self._send([r for m in decoded for r in m.readings or ()])
        if result.status == ACKED:
            return
        if not _refused(result):
            raise CommitFailed(result.error or result.status)
        for message in decoded:
            alone = await self._send(message.readings or [])
            if _refused(alone):
                message.reason = f"refused by the node: {_error_text(alone)}"
            elif alone.status != ACKED:
                raise CommitFailed(alone.error or alone.status)

    async def _send(self, readings: list[dict[str, Any]]) -> SendResult:
        body, content_type = self.client.encode(readings)
        result = await self.client.post_encoded(body, content_type, len(readings),
                                                batch_key(body))
        if result.status == ACKED:
            self._count(result.response or {}, len(readings))
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
    """A 4xx answer: sending the same readings again can never succeed."""
    if result.status != FAILED or not result.trail:
        return False
    status = result.trail[-1].status
    return status is not None and 400 <= status < 500 and status not in _NOT_REFUSALS


def _error_text(result: SendResult) -> str:
    error = (result.response or {}).get("error") if isinstance(result.response, dict) else None
    if isinstance(error, dict):
        return f"{result.error}: {error.get('message', '')}"
    return str(result.error)
