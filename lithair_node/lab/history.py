"""Checkable write histories: what the client was told, compared with what every node holds.

A drill writes batches made by `checkable_batches`: batch n is the only batch that ever
writes sensor `<run>-<n>`, with distinct timestamps. So, on any node:
- a batch is present iff its sensor exists, and then its newest reading is exactly the
  batch's last reading (checked through GET /sensors/{id}/latest);
- a batch applied twice would store no new reading the second time but count its readings
  as duplicates (and count one more accepted batch): `duplicate_readings` must stay 0 and
  `batches_accepted` must equal the number of batches present;
- `total_readings` must equal the sum of the sizes of the batches present, so no reading of
  a present batch is missing either (every stored reading belongs to exactly one batch).

`check_history` then asserts, per node: every batch the client saw acked is present, every
batch that surely failed is absent, batches with an unknown outcome are present or absent
(at most once, by the counters); and across nodes: the same batches, equal state digests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from lithair_node.client.cluster_client import ACKED, FAILED, UNKNOWN, SendResult
from lithair_node.client.node_api import NO_ANSWER, ApiError, NodeApi

US = 1_000_000


@dataclass(frozen=True)
class Probe:
    """What identifies a batch on a node: its sensor's newest reading."""

    sensor_id: str
    timestamp_us: int
    value: float


def checkable_batches(run_id: str, batch_size: int, *, start_s: int = 1_700_000_000,
                      first: int = 0) -> Iterator[list[dict[str, Any]]]:
    """Endless batches, each on a sensor of its own: batch n writes sensor `<run_id>-<n>` at
    `start_s + i` seconds with temperature `n + i` (exact in float64)."""
    n = first
    while True:
        sensor = f"{run_id}-{n:07d}"
        yield [{"sensor_id": sensor, "timestamp": start_s + i, "temperature": float(n + i),
                "humidity": 40.0 + i % 7}
               for i in range(batch_size)]
        n += 1


def probe_of(batch: list[dict[str, Any]]) -> Probe:
    last = batch[-1]
    return Probe(str(last["sensor_id"]), int(last["timestamp"]) * US, float(last["temperature"]))


@dataclass
class BatchRecord:
    probe: Probe
    result: SendResult

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def readings(self) -> int:
        return self.result.readings


class History:
    """Thread-safe list of finished batches (fed by the injector's `on_result`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[BatchRecord] = []

    def add(self, batch: list[dict[str, Any]], result: SendResult) -> None:
        record = BatchRecord(probe_of(batch), result)
        with self._lock:
            self.records.append(record)

    def snapshot(self) -> list[BatchRecord]:
        with self._lock:
            return list(self.records)

    def count(self, status: str) -> int:
        return sum(1 for r in self.snapshot() if r.status == status)

    def first_ack_after(self, started: float, min_term: int) -> SendResult | None:
        """The earliest acknowledgement of an entry committed in a term >= min_term whose
        answer came after `started` (time.monotonic())."""
        candidates = [
            r.result for r in self.snapshot()
            if r.status == ACKED and r.result.finished >= started
            and int((r.result.response or {}).get("raft_term", -1)) >= min_term
        ]
        return min(candidates, key=lambda res: res.finished, default=None)

    def summary(self) -> dict[str, Any]:
        records = self.snapshot()
        by_status = {status: 0 for status in (ACKED, FAILED, UNKNOWN)}
        resolutions: dict[str, int] = {}
        for record in records:
            by_status[record.status] += 1
            resolution = record.result.resolution
            resolutions[resolution] = resolutions.get(resolution, 0) + 1
        return {
            "batches": len(records),
            "readings_acked": sum(r.readings for r in records if r.status == ACKED),
            **by_status,
            "with_uncertain_attempt": sum(1 for r in records if r.result.had_uncertain_attempt),
            "resolutions": dict(sorted(resolutions.items())),
        }


@dataclass
class NodeCheck:
    url: str
    reachable: bool = True
    present: int = 0
    expected_readings: int = 0  # sum of the sizes of the batches present
    stats: dict[str, Any] = field(default_factory=dict)
    missing_acked: list[str] = field(default_factory=list)
    present_failed: list[str] = field(default_factory=list)
    unknown_present: int = 0
    wrong: list[str] = field(default_factory=list)  # sensor exists but newest reading differs

    def row(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "present_batches": self.present,
            "expected_readings": self.expected_readings,
            "stored_readings": self.stats.get("total_readings"),
            "batches_accepted": self.stats.get("batches_accepted"),
            "duplicate_readings": self.stats.get("duplicate_readings"),
            "missing_acked": len(self.missing_acked),
            "present_failed": len(self.present_failed),
            "unknown_present": self.unknown_present,
            "applied_index": self.stats.get("applied_index"),
            "state_digest": self.stats.get("state_digest"),
        }


@dataclass
class CheckReport:
    nodes: list[NodeCheck]
    problems: list[str]
    summary: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not self.problems

    def table(self) -> str:
        head = (f"{'node':34} {'acked':>7} {'present':>8} {'expected':>10} {'stored':>10} "
                f"{'missing':>8} {'dup':>5}  digest")
        lines = [head]
        for node in self.nodes:
            row = node.row()
            lines.append(
                f"{(str(node.stats.get('node_id', '')) + ' ' + node.url).strip():34} "
                f"{self.summary[ACKED]:>7} {row['present_batches']:>8} "
                f"{row['expected_readings']:>10,} {row['stored_readings'] or 0:>10,} "
                f"{row['missing_acked']:>8} {row['duplicate_readings'] or 0:>5}  "
                f"{(row['state_digest'] or '-')[:16]}"
            )
        lines.append("integrity: OK" if self.ok else "integrity: FAILED\n  " + "\n  ".join(self.problems))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": self.problems, "summary": self.summary,
                "nodes": [n.row() for n in self.nodes]}


async def _check_node(node: NodeApi, records: list[BatchRecord], concurrency: int) -> NodeCheck:
    check = NodeCheck(node.url)
    try:
        check.stats = await node.stats()
    except (ApiError, *NO_ANSWER):
        check.reachable = False
        return check
    gate = asyncio.Semaphore(concurrency)

    async def present(record: BatchRecord) -> bool | None:
        probe = record.probe
        async with gate:
            try:
                body = await node.latest(probe.sensor_id)
            except ApiError as refusal:
                if refusal.status == 404:
                    return False
                raise RuntimeError(f"{node.url}: latest {probe.sensor_id}: {refusal}") from None
        newest = (body["timestamp_us"], body["values"].get("temperature"))
        if newest != (probe.timestamp_us, probe.value):
            check.wrong.append(f"{probe.sensor_id}: newest {newest}, expected "
                               f"{(probe.timestamp_us, probe.value)}")
            return None
        return True

    answers = await asyncio.gather(*(present(r) for r in records))
    for record, answer in zip(records, answers, strict=True):
        if answer:
            check.present += 1
            check.expected_readings += record.readings
            if record.status == UNKNOWN:
                check.unknown_present += 1
            elif record.status == FAILED:
                check.present_failed.append(record.result.key)
        elif answer is False and record.status == ACKED:
            check.missing_acked.append(record.result.key)
    return check


async def check_history_async(urls: list[str], records: list[BatchRecord], *,
                              exclusive: bool = True, concurrency: int = 32,
                              token: str | None = None) -> CheckReport:
    """Compare `records` with every node. `exclusive`: the history wrote everything the
    cluster holds, so the node's counters must equal what the present batches add up to."""
    async with aiohttp.ClientSession() as session:
        nodes = await asyncio.gather(*(
            _check_node(NodeApi(url, session, token=token, timeout_s=30), records, concurrency)
            for url in urls))
    problems: list[str] = []
    for node in nodes:
        if not node.reachable:
            problems.append(f"{node.url}: unreachable")
            continue
        if node.missing_acked:
            problems.append(f"{node.url}: {len(node.missing_acked)} acked batches missing, e.g. "
                            f"{node.missing_acked[:3]}")
        if node.present_failed:
            problems.append(f"{node.url}: {len(node.present_failed)} batches reported failed are "
                            f"stored, e.g. {node.present_failed[:3]}")
        if node.wrong:
            problems.append(f"{node.url}: {len(node.wrong)} sensors hold other readings, e.g. "
                            f"{node.wrong[:2]}")
        stats = node.stats
        if stats.get("duplicate_readings") != 0 and exclusive:
            problems.append(f"{node.url}: {stats.get('duplicate_readings')} readings stored twice "
                            "(a batch was applied more than once)")
        if exclusive:
            for counter, expected in (("total_readings", node.expected_readings),
                                      ("batches_accepted", node.present),
                                      ("active_sensors", node.present)):
                if stats.get(counter) != expected:
                    problems.append(f"{node.url}: {counter} is {stats.get(counter)}, the batches "
                                    f"present add up to {expected}")
    reachable = [n for n in nodes if n.reachable]
    if len({(n.present, n.expected_readings) for n in reachable}) > 1:
        problems.append("nodes hold different batches: "
                        + ", ".join(f"{n.url}={n.present}" for n in reachable))
    digests = {n.stats.get("state_digest") for n in reachable}
    if len(digests) > 1:
        problems.append(f"state digests differ: {sorted(str(d) for d in digests)}")
    summary = _summary(records)
    return CheckReport(nodes, problems, summary)


def _summary(records: list[BatchRecord]) -> dict[str, Any]:
    history = History()
    history.records = list(records)
    return history.summary()


def check_history(urls: list[str], records: list[BatchRecord], **options: Any) -> CheckReport:
    """Blocking wrapper of check_history_async (for tests and scripts)."""
    return asyncio.run(check_history_async(urls, records, **options))
