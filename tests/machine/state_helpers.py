"""Build log entries the way the HTTP side does (validate, encode, envelope)."""

from __future__ import annotations

from typing import Any

from lithair_node.machine.commands import encode_ingest, make_encoded_batch
from lithair_node.machine.state import LogEntry, StateMachine
from lithair_node.node.ingest.validation import Limits, validate_batch


def ingest_entry(index: int, readings: list[dict[str, Any]], key: str | None = None,
                 term: int = 1) -> LogEntry:
    columns, received = validate_batch({"readings": readings}, Limits(max_readings=100_000))
    return LogEntry(index, term, encode_ingest([make_encoded_batch(columns, key, received)]))


def apply_all(state: StateMachine, entries: list[LogEntry]) -> list[Any]:
    return [state.apply(entry) for entry in entries]
