"""What goes into apply (a committed log entry) and what comes out of it."""

from __future__ import annotations

from dataclasses import dataclass

from lithair_node.machine.idempotency import BatchResult


@dataclass(frozen=True, slots=True)
class LogEntry:
    index: int
    term: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What apply decided for one client batch."""

    status: str  # "ok" | "key_reused" | "invalid"
    result: BatchResult | None = None
    duplicate_batch: bool = False
    message: str = ""


@dataclass(frozen=True, slots=True)
class ApplyResult:
    index: int
    term: int
    batches: tuple[BatchOutcome, ...] = ()
    error: str | None = None  # set when the whole entry was refused (a bug or a bad peer)
