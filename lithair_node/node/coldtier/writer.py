"""Readings -> Hive-partitioned Parquet: one file per UTC day a batch touches,
`day=YYYY-MM-DD/part-<name>.parquet`, rows sorted by (sensor_id, ts), zstd.

The schema is the one a DuckDB or Spark user expects of a time-series table:
    sensor_id  string (dictionary-encoded pages on disk)
    location   string, null when the sensor has none (dictionary-encoded too)
    ts         timestamp[us, UTC]          (the engine's unit: integer microseconds)
    <metric>   float64, one column per metric present that day, null where absent
The Arrow type is plain string, not dictionary: pyarrow.dataset prunes row groups by their
statistics only for non-dictionary fields (checked in the tests); the Parquet pages are
dictionary-encoded either way, so the bytes on disk are the same size.
The day is not a column of the file: Hive readers take it from the directory name.

Files are deterministic: the same readings and name give the same bytes (no clock, no
random id in them), so a retried write overwrites its own earlier attempt.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lithair_node.node.coldtier.manifest import US_PER_DAY, ColdFile, digest
from lithair_node.node.coldtier.store import ColdStore

__all__ = ["US_PER_DAY"]  # re-exported: callers reading days alongside the writer

TS_TYPE = pa.timestamp("us", tz="UTC")
# Row groups are the unit of predicate pushdown: 128 Ki rows keep the zstd ratio close to
# whole-file while a one-sensor read of a day decodes one or two of them.
ROW_GROUP_ROWS = 1 << 17
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3
RESERVED = frozenset({"sensor_id", "location", "ts", "day"})  # "day": the Hive partition
SORTING = [pq.SortingColumn(0), pq.SortingColumn(2)]  # sensor_id, ts: read by DuckDB/Spark


@dataclass(frozen=True)
class ColdBatch:
    """Readings to tier, as columns. `sensor` numbers rows into `sensor_names` (as the
    engine's sensor numbers do); `locations` has one entry per sensor name."""

    sensor: np.ndarray  # int64 per row
    ts: np.ndarray  # int64 microseconds per row
    sensor_names: Sequence[str]
    locations: Sequence[str | None]
    metrics: Mapping[str, np.ndarray]  # float64 per row, NaN: no value

    @classmethod
    def from_triples(cls, sensor: np.ndarray, ts: np.ndarray, sensor_names: Sequence[str],
                     locations: Sequence[str | None], row: np.ndarray, metric: np.ndarray,
                     value: np.ndarray, metric_names: Sequence[str]) -> ColdBatch:
        """From the engine's sparse form: (row, metric number, value) triples."""
        dense: dict[str, np.ndarray] = {}
        for m in np.unique(metric).tolist():
            column = np.full(ts.shape[0], np.nan)
            mine = metric == m
            column[row[mine]] = value[mine]
            dense[metric_names[m]] = column
        return cls(sensor, ts, sensor_names, locations, dense)

    @property
    def rows(self) -> int:
        return int(self.ts.shape[0])


def part_name(name: int) -> str:
    """The file name for the leader's log index or segment number (zero-padded: listing
    order is numeric order)."""
    if name < 0:
        raise ValueError(f"part name {name}: must be >= 0")
    return f"part-{name:012d}.parquet"


def day_of(ts_us: int) -> str:
    return str(np.datetime64(ts_us // US_PER_DAY, "D"))


def encode(batch: ColdBatch, name: int, *, compression: str = COMPRESSION,
           compression_level: int | None = None,
           row_group_rows: int = ROW_GROUP_ROWS) -> list[tuple[ColdFile, bytes]]:
    """The files of `batch` (one per UTC day, in day order) and their bytes; nothing written.
    `compression_level` None: COMPRESSION_LEVEL for zstd, the codec's own otherwise (snappy
    takes none)."""
    if compression_level is None and compression == COMPRESSION:
        compression_level = COMPRESSION_LEVEL
    if batch.rows == 0:
        return []
    _check(batch)
    names = np.asarray(batch.sensor_names, dtype=object)
    name_rank = np.empty(len(names), dtype=np.int64)
    name_rank[np.argsort(names.astype(str), kind="stable")] = np.arange(len(names))
    days = batch.ts // US_PER_DAY
    order = np.lexsort((batch.ts, name_rank[batch.sensor], days))
    days = days[order]
    cuts = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), order.shape[0]]
    files = []
    for a, b in itertools.pairwise(cuts):
        rows = order[a:b]
        table, sensors, metrics = _table(batch, rows, names, name_rank)
        data = _parquet_bytes(table, compression, compression_level, row_group_rows)
        day = str(np.datetime64(int(days[a]), "D"))
        ts = batch.ts[rows]
        files.append((ColdFile(f"day={day}/{part_name(name)}", day, int(ts.min()), int(ts.max()),
                               int(rows.shape[0]), sensors, metrics, digest(data), len(data)), data))
    return files


def write(store: ColdStore, batch: ColdBatch, name: int, **options: object) -> list[ColdFile]:
    """Encode `batch` and put every file in `store`; the manifest entries to commit."""
    written = []
    for entry, data in encode(batch, name, **options):  # type: ignore[arg-type]
        store.put(entry.path, data)
        written.append(entry)
    return written


def _check(batch: ColdBatch) -> None:
    n = batch.rows
    if batch.sensor.shape != (n,) or any(v.shape != (n,) for v in batch.metrics.values()):
        raise ValueError("cold batch: every column needs one value per row")
    if len(batch.locations) != len(batch.sensor_names):
        raise ValueError("cold batch: one location per sensor name")
    if n and (batch.sensor.min() < 0 or batch.sensor.max() >= len(batch.sensor_names)):
        raise ValueError("cold batch: sensor number out of range")
    reserved = RESERVED & set(batch.metrics)
    if reserved:
        raise ValueError(f"cold batch: metric names {sorted(reserved)} are reserved column names")


def _table(batch: ColdBatch, rows: np.ndarray, names: np.ndarray,
           name_rank: np.ndarray) -> tuple[pa.Table, int, tuple[str, ...]]:
    """One day's rows (already in (sensor_id, ts) order) as an Arrow table."""
    sensor = batch.sensor[rows]
    # Dictionary of the day's sensors in name order: indices ascend with the rows.
    used_ranks, indices = np.unique(name_rank[sensor], return_inverse=True)
    by_rank = np.argsort(name_rank)
    used = by_rank[used_ranks]
    sensor_col = pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)),
                                                pa.array(names[used].tolist(), pa.string()))
    sensor_col = sensor_col.dictionary_decode()
    columns: dict[str, pa.Array] = {
        "sensor_id": sensor_col,
        "location": _locations(batch.locations, used, indices),
        "ts": pa.array(batch.ts[rows].astype(np.int64)).view(TS_TYPE),
    }
    present = []
    for metric in sorted(batch.metrics):
        values = batch.metrics[metric][rows]
        if np.isnan(values).all():
            continue  # a metric no reading of the day has is no column of the day's file
        present.append(metric)
        columns[metric] = pa.array(values.astype(np.float64), pa.float64(), from_pandas=True)
    return pa.table(columns), int(used.shape[0]), tuple(present)


def _locations(locations: Sequence[str | None], used: np.ndarray, indices: np.ndarray) -> pa.Array:
    mine = [locations[i] for i in used.tolist()]
    distinct = sorted({loc for loc in mine if loc is not None})
    number = {loc: i for i, loc in enumerate(distinct)}
    per_sensor = np.array([number.get(loc, -1) if loc is not None else -1 for loc in mine],
                          dtype=np.int32)
    codes = per_sensor[indices]
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0),
                                          pa.array(distinct, pa.string())).dictionary_decode()


def _parquet_bytes(table: pa.Table, compression: str, level: int | None, row_group_rows: int) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=compression, compression_level=level,
                   row_group_size=row_group_rows, sorting_columns=SORTING,
                   write_statistics=True, store_schema=True)
    return sink.getvalue().to_pybytes()
