"""The replicated command envelope: versioned msgpack, the only thing that enters the Raft log.

    envelope = [ENVELOPE_VERSION, op, body]

    op "ingest":   body = [batch, ...]           (group commit: several client batches)
                   batch = [idempotency_key | nil, fingerprint(16 bytes), columns]
                         | [idempotency_key | nil, fingerprint, columns, [per_sensor, per_cluster]]
                   columns = [sensors, counts(<u4), locations, ts(<i8 us), metrics, values,
                              in_batch_dups]
                   values = <f8 bytes, metrics x readings, NaN = absent         (dense)
                          | [positions(<u4 | <u8, ascending, metric * readings + reading),
                             <f8 bytes of the values present]                   (sparse)

A 4-element batch carries the metric-name limits of the node that received it (MetricLimits):
apply judges the batch by them, so every node decides alike whatever its own flags. Entries
of earlier versions (3 elements, dense values) still decode and apply as they did.
    op "announce": body = {"raft": addr, "node_id": id, "http": url}
    op "barrier":  body = nonce   (a no-op used by linearizable reads)
    op "settings": body = {"anomalies": {...}}   (replicated settings, see anomalies.py)
    op "lifecycle": body = {"rules": [...]}      (retention and rollups, lifecycle/policy.py)
    op "tick":     body = the leader's wall clock, integer ms (lifecycle ages data by it)
    op "cold":     body = {"seq", "term", "files", "cutoffs", "rows"}  (the cold-tier move, lifecycle/cold.py)

Readings are validated, grouped by sensor (sensors sorted), sorted by timestamp within each
group and de-duplicated within the batch before they are encoded, so apply only has to
check them against what is already stored.
"""

from __future__ import annotations

import hashlib
import itertools
import operator
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
OP_COLD = "cold"

TS_DTYPE = np.dtype("<i8")
VALUE_DTYPE = np.dtype("<f8")
COUNT_DTYPE = np.dtype("<u4")
POSITION_DTYPES = (np.dtype("<u4"), np.dtype("<u8"))
# Cell keys keep metric ids in 16 bits (engine/cells.py): no limit may go beyond.
MAX_METRIC_NAMES = (1 << 16) - 1
# Apply (and validation) hold a batch as the dense metrics x readings matrix while they work on
# it: a sparse entry must not make that matrix arbitrarily large (32 MiB at most).
MAX_BATCH_SLOTS = 1 << 22
# Sparse when its bytes (12 per value present) are at most half the dense matrix's.
_SPARSE_DENSITY = 1 / 3

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


DEFAULT_SENSOR_METRICS = 256
DEFAULT_CLUSTER_METRICS = 10_000


@dataclass(frozen=True, slots=True)
class MetricLimits:
    """Metric names a sensor (cells) and the cluster may hold; a batch beyond is refused."""

    per_sensor: int = DEFAULT_SENSOR_METRICS
    per_cluster: int = DEFAULT_CLUSTER_METRICS

    def __post_init__(self) -> None:
        if not 1 <= self.per_sensor <= self.per_cluster <= MAX_METRIC_NAMES:
            raise ValueError(f"metric limits must satisfy 1 <= per sensor <= per cluster <= "
                             f"{MAX_METRIC_NAMES}")


# What entries without limits (earlier versions) are held to: only the cell key's width.
UNLIMITED = MetricLimits(MAX_METRIC_NAMES, MAX_METRIC_NAMES)


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """A validated client batch, ready to be proposed."""

    key: str | None
    fingerprint: bytes
    columns_payload: bytes
    readings: int  # readings stored if none is a duplicate of stored data
    received: int  # readings in the request, in-batch duplicates included

    def item_bytes(self, limits: MetricLimits | None = None) -> bytes:
        parts = [
            msgpack.Packer().pack_array_header(3 if limits is None else 4),
            _packer.pack(self.key),
            _packer.pack(self.fingerprint),
            self.columns_payload,
        ]
        if limits is not None:
            parts.append(_packer.pack([limits.per_sensor, limits.per_cluster]))
        return b"".join(parts)


def encode_values(values: np.ndarray) -> bytes | list[bytes]:
    """Dense bytes for the usual full batch; (positions, values) when most are absent, so
    an entry costs what its readings carry."""
    present = ~np.isnan(values)
    k = int(np.count_nonzero(present))
    if not values.size or k > values.size * _SPARSE_DENSITY:
        return np.ascontiguousarray(values, dtype=VALUE_DTYPE).tobytes()
    positions = np.flatnonzero(present)  # row-major: metric * readings + reading
    dtype = POSITION_DTYPES[0] if values.size <= 1 << 32 else POSITION_DTYPES[1]
    return [positions.astype(dtype).tobytes(),
            np.ascontiguousarray(values[present], dtype=VALUE_DTYPE).tobytes()]


def decode_values(raw: Any, m: int, n: int) -> np.ndarray:
    """The (m x n) matrix, NaN = absent, from either form; ValueError if inconsistent."""
    if type(raw) is bytes:
        if len(raw) != n * m * VALUE_DTYPE.itemsize:
            raise ValueError("values size does not match metrics x readings")
        return np.frombuffer(raw, dtype=VALUE_DTYPE).reshape(m, n)
    if not (type(raw) is list and len(raw) == 2 and all(type(p) is bytes for p in raw)):
        raise ValueError("values must be binary or [positions, values]")
    positions_b, present_b = raw
    if m * n > MAX_BATCH_SLOTS:
        raise ValueError(f"sparse values: {m} metrics x {n} readings is more than "
                         f"{MAX_BATCH_SLOTS} value slots")
    dtype = POSITION_DTYPES[0] if m * n <= 1 << 32 else POSITION_DTYPES[1]
    if len(present_b) % VALUE_DTYPE.itemsize or len(positions_b) % dtype.itemsize:
        raise ValueError("binary column length is not a multiple of its item size")
    positions = np.frombuffer(positions_b, dtype=dtype)
    present = np.frombuffer(present_b, dtype=VALUE_DTYPE)
    if positions.shape[0] != present.shape[0]:
        raise ValueError("sparse values: positions and values differ in length")
    if positions.shape[0] and (int(positions[-1]) >= m * n
                               or not (np.diff(positions.astype(np.int64)) > 0).all()):
        raise ValueError("sparse values: positions must ascend within metrics x readings")
    if np.isnan(present).any():
        raise ValueError("sparse values: a present value must not be NaN")
    values = np.full(m * n, np.nan, dtype=VALUE_DTYPE)
    values[positions] = present
    return values.reshape(m, n)


def encode_columns(columns: BatchColumns) -> bytes:
    return _packer.pack(
        [
            columns.sensors,
            np.ascontiguousarray(columns.counts, dtype=COUNT_DTYPE).tobytes(),
            columns.locations,
            np.ascontiguousarray(columns.ts, dtype=TS_DTYPE).tobytes(),
            columns.metrics,
            encode_values(columns.values),
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
    # join raises TypeError on anything but a str: one C-level copy (~3 us for 1,000 ids,
    # a type() per item ~40 us). msgpack makes exact str, never a subclass, so it accepts
    # what the type test accepts; lists holding None take the type test.
    try:
        "".join(items)
        return True
    except TypeError:
        return set(map(type, items)) <= (_STR_OR_NONE if or_none else _STR)


def _distinct(names: list[str]) -> bool:
    # Validation sends sensors sorted: strictly ascending proves them distinct in one
    # C-level pass of comparisons, without hashing each (a set is the fallback).
    return all(map(operator.lt, names, names[1:])) or len(set(names)) == len(names)


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
    if not (type(counts_b) is bytes and type(ts_b) is bytes):
        raise ValueError("counts and ts must be binary")
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
    values = decode_values(values_b, m, n)
    # apply relies on what validation guarantees; an entry from a buggy or foreign proposer
    # must be refused here rather than break the engine's invariants.
    if not _distinct(sensors) or len(set(metrics)) != len(metrics):
        raise ValueError("sensors and metrics must not repeat")
    if n > counts.shape[0]:  # else every group holds one reading: nothing to order
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
    sensors = _sorted_distinct([s for b in batches for s in b.sensors])
    metrics = sorted(set().union(*(b.metrics for b in batches)))
    rank = dict(zip(sensors, range(len(sensors)), strict=True))
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
        if None not in b.locations:  # the usual batch: one C-level update
            location_of.update(zip(b.sensors, b.locations, strict=True))
            continue
        for sensor, location in zip(b.sensors, b.locations, strict=True):
            if location is not None:
                location_of[sensor] = location
    merged = BatchColumns(
        sensors=sensors,
        counts=np.bincount(group, minlength=len(sensors)).astype(COUNT_DTYPE),
        locations=list(map(location_of.get, sensors)),
        ts=ts,
        metrics=metrics,
        values=np.ascontiguousarray(values),
        in_batch_duplicates=0,
    )
    return merged, origin


def _sorted_distinct(names: list[str]) -> list[str]:
    """sorted(set(names)), faster when names is a few sorted runs (each batch's sensors, as
    validation sends them): Timsort merges the runs, where a set's hash order made it sort
    from scratch (~180 us of string comparisons for 4 batches of 1,000 sensors)."""
    ordered = sorted(names)
    if len(ordered) < 2:
        return ordered
    # Keep each name that differs from the one before it.
    return [ordered[0], *itertools.compress(ordered[1:], map(operator.ne, ordered[1:], ordered))]


def decode_limits(raw: Any) -> MetricLimits:
    """A batch item's limits; ValueError unless two integers MetricLimits accepts."""
    if not (type(raw) is list and len(raw) == 2 and all(type(x) is int for x in raw)):
        raise ValueError("metric limits must be [per_sensor, per_cluster] integers")
    return MetricLimits(raw[0], raw[1])


def encode_ingest(batches: list[EncodedBatch], limits: MetricLimits | None = None) -> bytes:
    header = msgpack.Packer()
    parts = [
        header.pack_array_header(3),
        _packer.pack(ENVELOPE_VERSION),
        _packer.pack(OP_INGEST),
        header.pack_array_header(len(batches)),
    ]
    parts.extend(batch.item_bytes(limits) for batch in batches)
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


def encode_cold(body: dict[str, Any]) -> bytes:
    return _packer.pack([ENVELOPE_VERSION, OP_COLD, body])


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
    if op not in (OP_INGEST, OP_ANNOUNCE, OP_BARRIER, OP_SETTINGS, OP_LIFECYCLE, OP_TICK,
                  OP_COLD):
        raise ValueError(f"unknown op {op!r}")
    return op, body
