"""What the bridge did, printed on exit (`--json`) and in its status line."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class BridgeCounters:
    received: int = 0  # messages, redeliveries included
    readings_sent: int = 0
    stored: int = 0  # readings the node accepted
    duplicates: int = 0  # readings stored already (a redelivery, a repeated batch)
    dead_lettered: int = 0  # messages that can never be stored
    acks: int = 0  # PUBACKs sent
    batches: int = 0  # batches committed
    commit_failures: int = 0  # batches given up on: their messages come back after a reconnect
    reconnects: int = 0
    alerts_published: int = 0
    alert_polls: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def line(self) -> str:
        return " ".join(f"{name}={value}" for name, value in asdict(self).items())
