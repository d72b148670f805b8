"""Ingest figures over the last minutes, for the dashboard's Ingest chart.

`ingest_totals` is the one place these figures are read: the state's counters (the same
`StateMachine.stats()` that /metrics' collector is given as `state_stats`) and the
proposer's 429 count. A /metrics collector can export the same IngestTotals as counters;
IngestHistory only samples them once a second and keeps the differences.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from lithair_node.machine.state import StateMachine
from lithair_node.node.background import stop_task
from lithair_node.node.ingest.proposer import Proposer


@dataclass(frozen=True)
class IngestTotals:
    readings: int  # stored in the state (every node applies all of them: a cluster figure)
    batches: int  # client batches stored
    duplicate_readings: int  # not stored: their (sensor, timestamp) was stored already
    duplicate_batches: int  # retries answered from the idempotency table
    overloaded: int  # writes this node refused with 429


def ingest_totals(state: StateMachine, proposer: Proposer) -> IngestTotals:
    stats = state.stats()
    return IngestTotals(stats["total_readings"], stats["batches_accepted"],
                        stats["duplicate_readings"], stats["duplicate_batches"],
                        proposer.stats["rejected_overload"])


class IngestHistory:
    PERIOD_S = 1.0
    KEEP = 300  # five minutes of one-second samples

    def __init__(self, state: StateMachine, proposer: Proposer) -> None:
        self._state = state
        self._proposer = proposer
        self._samples: deque[tuple[float, IngestTotals]] = deque(maxlen=self.KEEP + 1)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._sample_forever())

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _sample_forever(self) -> None:
        while True:
            self._samples.append((time.time(), ingest_totals(self._state, self._proposer)))
            await asyncio.sleep(self.PERIOD_S)

    def history(self) -> dict[str, Any]:
        """Per interval between samples: its end time and per-second rates."""
        samples = list(self._samples)
        points = []
        for (t0, a), (t1, b) in itertools.pairwise(samples):
            span = max(t1 - t0, 1e-3)
            points.append({
                "t": round(t1, 3),
                "readings_per_s": round((b.readings - a.readings) / span, 1),
                "batches_per_s": round((b.batches - a.batches) / span, 2),
                "duplicates_per_s": round((b.duplicate_readings - a.duplicate_readings) / span, 1),
                "overloaded_per_s": round((b.overloaded - a.overloaded) / span, 2),
            })
        now = ingest_totals(self._state, self._proposer)
        return {"period_s": self.PERIOD_S, "totals": asdict(now), "points": points}
