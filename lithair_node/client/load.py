"""Historical loading: stream a big file to the cluster in batches, checkpoint, resume.

Batches are cut by line count (`batch_lines` lines each, invalid lines skipped inside), so a
batch always covers the same lines whatever run sends it. Its Idempotency-Key is derived
from the file's fingerprint and the batch's first line: a resumed run that re-sends a batch
already committed gets `duplicate_batch: true` back instead of storing or counting it again
(and (sensor, timestamp) de-duplication would catch it anyway).

The checkpoint side file records the end of the longest prefix of batches all
acknowledged (several are in flight at once, acks arrive out of order). It is replaced
atomically; one that lags behind only means re-sending batches that are then recognised.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lithair_node.client.cluster_client import ACKED, ClusterClient
from lithair_node.client.formats import intel_lab
from lithair_node.client.pacing import Pacer, reporting_progress

CHECKPOINT_VERSION = 1
FINGERPRINT_BYTES = 1024 * 1024


class LoadError(Exception):
    """The load cannot start or go on (the message says why and what to do)."""


@dataclass
class Checkpoint:
    file: str
    fingerprint: str
    format: str
    batch_lines: int
    next_line: int = 1  # first line (1-based) not yet covered by an acknowledged batch
    next_offset: int = 0  # its byte offset
    readings_acked: int = 0
    batches_acked: int = 0
    skipped_lines: int = 0
    complete: bool = False
    version: int = CHECKPOINT_VERSION

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> Checkpoint | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise LoadError(f"checkpoint {path} is unreadable ({exc}); delete it to start over") from None
        if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
            raise LoadError(f"checkpoint {path} has an unknown format; delete it to start over")
        try:
            return cls(**data)
        except TypeError:
            raise LoadError(f"checkpoint {path} has unexpected fields; delete it to start over") from None


@dataclass
class Batch:
    number: int
    first_line: int
    end_line: int  # first line after the batch
    end_offset: int
    readings: list[dict[str, Any]]
    skipped: int


@dataclass
class LoadReport:
    started_at: float = field(default_factory=time.monotonic)
    elapsed_s: float = 0.0
    resumed_from_line: int = 1
    bytes_total: int = 0
    bytes_done: int = 0
    readings_sent: int = 0
    readings_acked: int = 0
    accepted: int = 0
    duplicates: int = 0
    duplicate_batches: int = 0
    batches_acked: int = 0
    skipped_lines: int = 0
    retries: int = 0
    failed: str | None = None
    complete: bool = False

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("started_at")
        data["readings_per_s"] = round(self.readings_acked / max(self.elapsed_s, 1e-9), 1)
        return data


def fingerprint(path: Path) -> str:
    with open(path, "rb") as source:
        head = source.read(FINGERPRINT_BYTES)
    return hashlib.blake2b(head, digest_size=8).hexdigest()


def batch_key(checkpoint: Checkpoint, first_line: int) -> str:
    return f"load-{checkpoint.fingerprint}-{checkpoint.batch_lines}-{first_line}"


def iter_batches(path: Path, fmt: str, batch_lines: int, start_line: int,
                 start_offset: int) -> Iterator[Batch]:
    if fmt != "intel-lab":
        raise LoadError(f"unknown format {fmt!r}; known: intel-lab")
    number = 0
    with open(path, "rb") as source:
        source.seek(start_offset)
        offset, line_no = start_offset, start_line
        while True:
            readings: list[dict[str, Any]] = []
            first, skipped = line_no, 0
            for _ in range(batch_lines):
                raw = source.readline()
                if not raw:
                    break
                offset += len(raw)
                parsed = intel_lab.parse_line(raw.decode("utf-8", errors="replace"), line_no)
                line_no += 1
                if parsed.reading is None:
                    skipped += 1
                else:
                    readings.append(parsed.reading)
            if line_no == first:
                return
            yield Batch(number, first, line_no, offset, readings, skipped)
            number += 1


def open_checkpoint(path: Path, checkpoint_path: Path, fmt: str, batch_lines: int,
                    restart: bool) -> tuple[Checkpoint, list[str]]:
    """The checkpoint to resume from (or a fresh one), and notes for the user."""
    notes: list[str] = []
    current = fingerprint(path)
    found = None if restart else Checkpoint.read(checkpoint_path)
    if found is None:
        return Checkpoint(str(path.resolve()), current, fmt, batch_lines), notes
    if found.fingerprint != current or found.format != fmt:
        raise LoadError(
            f"checkpoint {checkpoint_path} belongs to another file or format; "
            "pass --restart to load from the beginning (already stored readings are "
            "recognised as duplicates)"
        )
    if found.batch_lines != batch_lines:
        notes.append(f"resuming with the checkpoint's batch size of {found.batch_lines} lines "
                     "(batch boundaries must match the earlier run)")
    if found.next_offset > path.stat().st_size:
        raise LoadError(f"{path} is shorter than the checkpoint says; pass --restart")
    return found, notes


async def load(
    client: ClusterClient,
    path: Path,
    checkpoint: Checkpoint,
    checkpoint_path: Path,
    *,
    concurrency: int = 4,
    rate: float | None = None,
    on_progress: Callable[[LoadReport], None] | None = None,
    save_every_s: float = 0.5,
) -> LoadReport:
    """Send every batch after the checkpoint; keep the checkpoint up to date. Stops at the
    first batch that fails for good or stays unknown (the checkpoint stays before it)."""
    report = LoadReport(resumed_from_line=checkpoint.next_line,
                        bytes_total=path.stat().st_size, bytes_done=checkpoint.next_offset)
    batches = iter_batches(path, checkpoint.format, checkpoint.batch_lines,
                           checkpoint.next_line, checkpoint.next_offset)
    finished: dict[int, Batch] = {}
    next_to_commit = 0
    last_save = 0.0
    stop = asyncio.Event()
    source_lock = asyncio.Lock()
    pacer = Pacer(rate) if rate else None

    def advance() -> None:
        nonlocal next_to_commit, last_save
        while next_to_commit in finished:
            batch = finished.pop(next_to_commit)
            checkpoint.next_line, checkpoint.next_offset = batch.end_line, batch.end_offset
            checkpoint.batches_acked += 1
            checkpoint.readings_acked += len(batch.readings)
            checkpoint.skipped_lines += batch.skipped
            report.bytes_done = batch.end_offset
            next_to_commit += 1
        now = time.monotonic()
        if now - last_save >= save_every_s:
            last_save = now
            checkpoint.save(checkpoint_path)

    async def next_batch() -> Batch | None:
        async with source_lock:
            if stop.is_set():
                return None
            batch = next(batches, None)
            if batch is not None and pacer is not None:
                await pacer.wait(len(batch.readings))
            if batch is not None:
                report.readings_sent += len(batch.readings)
            return batch

    async def worker() -> None:
        while (batch := await next_batch()) is not None:
            if batch.readings:
                result = await client.post_batch(batch.readings,
                                                 batch_key(checkpoint, batch.first_line))
                report.retries += max(0, result.attempts - 1)
                if result.status != ACKED:
                    if report.failed is None:
                        report.failed = (f"batch of lines {batch.first_line}-{batch.end_line - 1}: "
                                         f"{result.status} ({result.error})")
                    stop.set()
                    return
                answer = result.response or {}
                report.accepted += answer.get("accepted", 0)
                report.duplicates += answer.get("duplicates", 0)
                report.duplicate_batches += bool(answer.get("duplicate_batch"))
            report.readings_acked += len(batch.readings)
            report.batches_acked += 1
            report.skipped_lines += batch.skipped
            finished[batch.number] = batch
            advance()

    try:
        async with reporting_progress(report, on_progress, 0.25):
            await client.discover()
            if pacer is not None:
                pacer.restart()  # the rate counts from the first send
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            report.complete = report.failed is None and next(batches, None) is None
            checkpoint.complete = report.complete
    finally:
        checkpoint.save(checkpoint_path)  # also on Ctrl-C (cancellation) and errors
    return report
