"""Drive a cluster with batches from a source, through ClusterClient, and report."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lithair_node.client.cluster_client import ACKED, FAILED, UNKNOWN, ClusterClient, SendResult
from lithair_node.client.pacing import Pacer, reporting_progress


@dataclass
class InjectReport:
    started_at: float = field(default_factory=time.monotonic)
    elapsed_s: float = 0.0
    batches: dict[str, int] = field(default_factory=lambda: {"sent": 0, ACKED: 0, FAILED: 0, UNKNOWN: 0})
    readings: dict[str, int] = field(default_factory=lambda: {"sent": 0, ACKED: 0, FAILED: 0, UNKNOWN: 0})
    accepted: int = 0
    duplicates: int = 0
    duplicate_batches: int = 0
    retries: int = 0
    latencies_s: list[float] = field(default_factory=list)
    results: list[SendResult] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def record(self, result: SendResult) -> None:
        self.batches[result.status] += 1
        self.readings[result.status] += result.readings
        self.retries += max(0, result.attempts - 1)
        if result.status == ACKED and result.response:
            self.latencies_s.append(result.latency_s)
            self.accepted += result.response.get("accepted", 0)
            self.duplicates += result.response.get("duplicates", 0)
            self.duplicate_batches += bool(result.response.get("duplicate_batch"))
        elif result.error:
            self.errors[result.error] = self.errors.get(result.error, 0) + 1

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_s)
        elapsed = max(self.elapsed_s, 1e-9)
        return {
            "elapsed_s": round(self.elapsed_s, 3),
            "batches": dict(self.batches),
            "readings": dict(self.readings),
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "duplicate_batches": self.duplicate_batches,
            "retries": self.retries,
            "readings_per_s": round(self.readings[ACKED] / elapsed, 1),
            "latency_ms": {
                "p50": _percentile_ms(ordered, 0.50),
                "p95": _percentile_ms(ordered, 0.95),
                "p99": _percentile_ms(ordered, 0.99),
                "max": round(ordered[-1] * 1000, 2) if ordered else None,
            },
            "errors": dict(self.errors),
        }


def _percentile_ms(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
    return round(ordered[index] * 1000, 2)


async def inject(
    client: ClusterClient,
    batches: Iterator[list[dict[str, Any]]],
    *,
    concurrency: int = 4,
    max_readings: int | None = None,
    duration_s: float | None = None,
    rate: float | None = None,
    key_prefix: str | None = None,
    on_progress: Callable[[InjectReport], None] | None = None,
    keep_results: bool = False,
    on_result: Callable[[list[dict[str, Any]], SendResult], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> InjectReport:
    """Send batches with `concurrency` in flight until the source, `max_readings`,
    `duration_s` or `should_stop()` runs out. `rate` caps readings per second (a limit:
    time lost is not made up by a burst). A batch already sent is always seen through
    (acked, failed or unknown) before returning; `on_result(batch, result)` is called for
    each."""
    report = InjectReport()
    await client.discover()
    deadline = report.started_at + duration_s if duration_s else None
    lock = asyncio.Lock()
    counter = 0
    pacer = Pacer(rate) if rate else None  # created after discovery: counts from the first send

    async def next_batch() -> tuple[int, list[dict[str, Any]]] | None:
        nonlocal counter
        async with lock:
            if deadline is not None and time.monotonic() >= deadline:
                return None
            if should_stop is not None and should_stop():
                return None
            sent = report.readings["sent"]
            if max_readings is not None and sent >= max_readings:
                return None
            batch = next(batches, None)
            if batch is None:
                return None
            if max_readings is not None and sent + len(batch) > max_readings:
                batch = batch[: max_readings - sent]
            if pacer is not None:
                await pacer.wait(len(batch))
            report.readings["sent"] += len(batch)
            report.batches["sent"] += 1
            counter += 1
            return counter, batch

    async def worker() -> None:
        while (item := await next_batch()) is not None:
            number, batch = item
            key = f"{key_prefix}-{number}" if key_prefix else None
            result = await client.post_batch(batch, key)
            report.record(result)
            if keep_results:
                report.results.append(result)
            if on_result is not None:
                on_result(batch, result)

    async with reporting_progress(report, on_progress, 0.5):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return report


class BackgroundInjector:
    """Runs `inject` on its own thread and event loop, for drills driven by blocking code
    (tests, demos, benchmarks): start(), watch `report`, stop() -> the final report."""

    def __init__(
        self,
        client_factory: Callable[[], ClusterClient],
        batches: Iterator[list[dict[str, Any]]],
        **inject_options: Any,
    ) -> None:
        self._client_factory = client_factory
        self._batches = batches
        self._options = inject_options
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._final: InjectReport | None = None
        self._error: BaseException | None = None
        self.report = InjectReport()

    def start(self) -> BackgroundInjector:
        self._thread = threading.Thread(target=self._run, name="injector", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        async def main() -> InjectReport:
            async with self._client_factory() as client:
                return await inject(client, self._batches, should_stop=self._stop.is_set,
                                    on_progress=self._progress, **self._options)

        try:
            self._final = asyncio.run(main())
            self.report = self._final
        except BaseException as exc:  # surfaced by stop()
            self._error = exc

    def _progress(self, report: InjectReport) -> None:
        self.report = report

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 120.0) -> InjectReport:
        """Stop sending new batches, wait for the ones in flight to settle."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise TimeoutError(f"injector did not finish within {timeout_s} s")
        if self._error is not None:
            raise self._error
        assert self._final is not None
        return self._final
