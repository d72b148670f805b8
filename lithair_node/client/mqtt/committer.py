"""Writing a batch of messages, and what becomes of each message.

On a 400, 413 or 422 for the batch (readings the node refuses), every message is sent
again as a batch of its own: the refused ones are dead-lettered with the node's error, the
rest are stored. A failure that is not a refusal (no leader within the deadline, an
unknown outcome, a wrong token) settles nothing: the messages stay unacked and come back
after a reconnect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lithair_node.client.cluster_client import ACKED, FAILED, ClusterClient, SendResult
from lithair_node.client.mqtt.batches import Message, batch_key
from lithair_node.client.mqtt.counters import BridgeCounters

# Statuses that refuse the readings themselves (undecodable, too large, invalid). Any other
# 4xx (401/403: a wrong token, 404: no such route) is the bridge's fault, not the message's:
# dead-lettering would throw good readings away.
_REFUSES_READINGS = frozenset({400, 413, 422})


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
    """The node refused these readings: sending them again can never succeed."""
    return (result.status == FAILED and bool(result.trail)
            and result.trail[-1].status in _REFUSES_READINGS)


def _error_text(result: SendResult) -> str:
    error = (result.response or {}).get("error") if isinstance(result.response, dict) else None
    if isinstance(error, dict):
        return f"{result.error}: {error.get('message', '')}"
    return str(result.error)
