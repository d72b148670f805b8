"""The replicated command envelope: versioned msgpack, the only thing that enters the Raft log.

    envelope = [ENVELOPE_VERSION, op, body]

    op "ingest":   body = [batch, ...]           (group commit: several client batches)
                   batch = [idempotency_key | nil, fingerprint(16 bytes), columns]
                   columns = [sensors, counts(<u4), locations, ts(<i8 us), metrics,
                              values(<f8, metrics x readings, NaN = absent), in_batch_dups]
    op "announce": body = {"raft": addr, "node_id": id, "http": url}
    op "barrier":  body = nonce   (a no-op used by linearizable reads)
    op "settings": body = {"anomalies": {...}}   (replicated settings, see anomalies.py)
    op "lifecycle": body = {"rules": [...]}      (retention and rollups, lifecycle/policy.py)
    op "tick":     body = the leader's wall clock, integer ms (lifecycle ages data by it)

Readings are validated, grouped by sensor (sensors sorted), sorted by timestamp within each
group and de-duplicated within the batch before they are encoded, so apply only has to
check them against what is already stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

ENVELOPE_VERSION = 1
OP_INGEST = "ingest"
OP_ANNOUNCE = "announce"
OP_BARRIER = "barrier"
OP_SETTINGS = "settings"
OP_LIFECYCLE = "lifecycle"
OP_TICK = "tick"

TS_DTYPE = np.dtype("<i8")
VALUE_DTYPE = np.dtype("<f8")
COUNT_DTYPE = np.dtype("<u4")

_packer = msgpack.Packer(use_bin_type=True)


@dataclass(frozen=True, slots=True)
class BatchColumns:
    sensors: list[str]
    counts: np.ndarray  # readings per sensor group, same order as sensors
    locations: list[str | None]  # per group: the location the batch gives, if any
    ts: np.ndarray  # int64 microseconds, grouped by sensor, ascending within a group
    metrics: list[str]  # metric names, sorted
    values: np.ndarray  # float64, shape (len(metrics), len(ts)); NaN where absent
    in_batch_duplicates: int  # readings dropped because they repeat (sensor, ts) in this batch

    @property
    def readings(self) -> int:
        return int(self.ts.shape[0])


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """A validated client batch, ready to be proposed."""

    key: str | None
    fingerprint: bytes
    columns_payload: bytes
    readings: int  # readings stored if none is a duplicate of stored data
    received: int  # readings in the request, in-batch duplicates included

    def item_bytes(self) -> bytes:
        return b"".join(
            (
                msgpack.Packer().pack_array_header(3),
                _packer.pack(self.key),
                _packer.pack(self.fingerprint),
                self.columns_payload,
            )
        )


def encode_columns(columns: BatchColumns) -> bytes:
    return _packer.pack(
        [
            columns.sensors,
            np.ascontiguousarray(columns.counts, dtype=COUNT_DTYPE).tobytes(),
            columns.locations,
            np.ascontiguousarray(columns.ts, dtype=TS_DTYPE).tobytes(),
            columns.metrics,
            np.ascontiguousarray(columns.values, dtype=VALUE_DTYPE).tobytes(),
            columns.in_batch_duplicates,
        ]
    )


def fingerprint_of(columns_payload: bytes) -> bytes:
    """Identifies a batch's content: the same readings give the same fingerprint whatever
    the JSON formatting, field order or transport encoding of the request."""
    return hashlib.blake2b(columns_payload, digest_size=16).digest()


def make_encoded_batch(columns: BatchColumns, key: str | None, received: int) -> EncodedBatch:
    payload = encode_columns(columns)
    return EncodedBatch(key, fingerprint_of(payload), payload, columns.readings, received)


_STR = {str}
_STR_OR_NONE = {str, type(None)}


def _all_str(items: list[Any], or_none: bool = False) -> bool:
    # One C-level pass per list (a generator per sensor cost ~2 ms a batch at 1K sensors).
    return set(map(type, items)) <= (_STR_OR_NONE if or_none else _STR)


def decode_columns(obj: Any) -> BatchColumns:
    """Rebuild columns from a decoded envelope; ValueError if anything is inconsistent."""
    if type(obj) is not list or len(obj) != 7:
        raise ValueError("batch columns must be a 7-element array")
    sensors, counts_b, locations, ts_b, metrics, values_b, dups = obj
    if not (type(sensors) is list and type(locations) is list):
        raise ValueError("sensors and locations must be arrays")
    if not (type(metrics) is list and _all_str(metrics)):
        raise ValueError("metrics must be an array of strings")
    if not _all_str(sensors) or "" in sensors:
        raise ValueError("sensor ids must be non-empty strings")
    if not _all_str(locations, or_none=True):
        raise ValueError("locations must be strings or nil")
    if not (type(counts_b) is bytes and type(ts_b) is bytes and type(values_b) is bytes):
        raise ValueError("counts, ts and values must be binary")
    if type(dups) is not int or dups < 0:
        raise ValueError("in-batch duplicates must be a non-negative integer")
    if len(counts_b) % COUNT_DTYPE.itemsize or len(ts_b) % TS_DTYPE.itemsize:
        raise ValueError("binary column length is not a multiple of its item size")
    counts = np.frombuffer(counts_b, dtype=COUNT_DTYPE)
    ts = np.frombuffer(ts_b, dtype=TS_DTYPE)
    n, m = ts.shape[0], len(metrics)
    if len(sensors) != counts.shape[0] or len(locations) != len(sensors):
        raise ValueError("sensors, counts and locations differ in length")
    if int(counts.sum(dtype=np.int64)) != n or (n and counts.min() == 0):
        raise ValueError("group counts do not add up to the readings")
    if len(values_b) != n * m * VALUE_DTYPE.itemsize:
        raise ValueError("values size does not match metrics x readings")
    values = np.frombuffer(values_b, dtype=VALUE_DTYPE).reshape(m, n)
    # apply relies on what validation guarantees; an entry from a buggy or foreign proposer
    # must be refused here rather than break the engine's invariants.
    if len(set(sensors)) != len(sensors) or len(set(metrics)) != len(metrics):
        raise ValueError("sensors and metrics must not repeat")
    if n > 1:
        rising = np.diff(ts) > 0
        rising[np.cumsum(counts.astype(np.int64))[:-1] - 1] = True  # group boundaries
        if not rising.all():
            raise ValueError("timestamps must be strictly increasing within a sensor group")
    if np.isinf(values).any():
        raise ValueError("metric values must be finite")
    return BatchColumns(sensors, counts, locations, ts, metrics, values, dups)


def merge_columns(batches: list[BatchColumns]) -> tuple[BatchColumns, np.ndarray]:
    """One set of columns holding several batches, as if stored one after the other: grouped
    by sensor, sorted by (timestamp, batch order), a (sensor, timestamp) repeated across
    batches kept from the earliest batch, each sensor's location from the last batch that
    gives one. Also returns, per merged reading, the position of the batch it came from."""
    sensors = sorted(set().union(*(b.sensors for b in batches)))
    metrics = sorted(set().union(*(b.metrics for b in batches)))
    rank = {sensor: i for i, sensor in enumerate(sensors)}
    metric_rank = {name: i for i, name in enumerate(metrics)}
    sizes = [b.readings for b in batches]
    group = np.concatenate([
        np.repeat(np.fromiter(map(rank.__getitem__, b.sensors), np.int64, len(b.sensors)),
                  b.counts.astype(np.int64))
        for b in batches
    ])
    ts = np.concatenate([b.ts for b in batches])
    origin = np.repeat(np.arange(len(batches), dtype=np.int64), sizes)
    if all(b.metrics == metrics for b in batches):
        values = np.concatenate([b.values for b in batches], axis=1)
    else:
        values = np.full((len(metrics), int(ts.shape[0])), np.nan, dtype=VALUE_DTYPE)
        start = 0
        for b, size in zip(batches, sizes, strict=True):
            rows = [metric_rank[name] for name in b.metrics]
            values[rows, start:start + size] = b.values
            start += size
    order = np.lexsort((origin, ts, group))
    group, ts, origin, values = group[order], ts[order], origin[order], values[:, order]
    keep = np.ones(ts.shape[0], dtype=bool)
    keep[1:] = (group[1:] != group[:-1]) | (ts[1:] != ts[:-1])
    if not keep.all():
        group, ts, origin, values = group[keep], ts[keep], origin[keep], values[:, keep]
    location_of: dict[str, str] = {}
    for b in batches:
        for sensor, location in zip(b.sensors, b.locations, strict=True):
            if location is not None:
                location_of[sensor] = location
    merged = BatchColumns(
        sensors=sensors,
        counts=np.bincount(group, minlength=len(sensors)).astype(COUNT_DTYPE),
        locations=[location_of.get(s) for s in sensors],
        ts=ts,
        metrics=metrics,
        values=np.ascontiguousarray(values),
        in_batch_duplicates=0,
    )
    return merged, origin


def encode_ingest(batches: list[EncodedBatch]) -> bytes:
    header = msgpack.Packer()
    parts = [
        header.pack_array_header(3),
        _packer.pack(ENVELOPE_VERSION),
        _packer.pack(OP_INGEST),
        header.pack_array_header(len(batches)),
    ]
    parts.extend(batch.item_bytes() for batch in batches)
    return b"".join(parts)


def encode_announce(raft_address: str, node_id: str, http_url: str) -> bytes:
    body = {"raft": raft_address, "node_id": node_id, "http": http_url}
    return _packer.pack([ENVELOPE_VERSION, OP_ANNOUNCE, body])


def encode_barrier(nonce: int) -> bytes:
    return _packer.pack([ENVELOPE_VERSION, OP_BARRIER, nonce])


def encode_settings(body: dict[str, Any]) -> bytes:
    return _packer.pack([ENVELOPE_VERSION, OP_SETTINGS, body])


def encode_lifecycle(body: dict[str, Any]) -> bytes:
    return _packer.pack([ENVELOPE_VERSION, OP_LIFECYCLE, body])


def encode_tick(clock_ms: int) -> bytes:
    return _packer.pack([ENVELOPE_VERSION, OP_TICK, clock_ms])


def decode_envelope(data: bytes) -> tuple[str, Any]:
    """Return (op, body); ValueError for anything that is not a known envelope."""
    try:
        envelope = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ValueError(f"undecodable envelope: {exc}") from None
    if not isinstance(envelope, list) or len(envelope) != 3:
        raise ValueError("envelope must be a 3-element array")
    version, op, body = envelope
    if version != ENVELOPE_VERSION:
        raise ValueError(f"unsupported envelope version {version!r}")
    if op not in (OP_INGEST, OP_ANNOUNCE, OP_BARRIER, OP_SETTINGS, OP_LIFECYCLE, OP_TICK):
        raise ValueError(f"unknown op {op!r}")
    return op, body
