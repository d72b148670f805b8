"""Streamed CSV and Parquet export through pyarrow.

Readings leave in chunks (one Arrow record batch, i.e. one CSV block or one Parquet row
group, per chunk of a sensor's range scan), so memory stays bounded whatever the size of
the export: the HTTP side sends each chunk's bytes before the next one is built.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet

from lithair_node.machine.engine.sensor_view import SensorView
from lithair_node.node.queries.series_reads import CHUNK_ROWS, format_timestamps, iter_chunks, stored_metrics

FORMATS = ("csv", "parquet")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


class _Spool(io.RawIOBase):
    """A write-only file that hands out what was written so far (pyarrow sinks into it)."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def metric_columns(views: list[SensorView], names: list[str]) -> list[str]:
    """Sorted union of the metrics of `views` (`names` maps metric id -> name): a sensor
    has a metric only once it holds a value of it."""
    return sorted({name for view in views for name in stored_metrics(view, names)})


def schema_for(metrics: list[str], fmt: str) -> pa.Schema:
    # CSV carries RFC 3339 text; Parquet a real UTC timestamp type.
    time_type = pa.string() if fmt == "csv" else pa.timestamp("us", tz="UTC")
    fields = [pa.field("sensor_id", pa.string(), nullable=False),
              pa.field("timestamp", time_type, nullable=False),
              pa.field("location", pa.string())]
    fields += [pa.field(name, pa.float64()) for name in metrics]
    return pa.schema(fields)


def record_batches(views: list[SensorView], names: list[str], start_us: int, end_us: int,
                   schema: pa.Schema, rows: int = CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
    metrics = schema.names[3:]
    position = {name: i for i, name in enumerate(metrics)}
    csv = schema.field("timestamp").type == pa.string()
    for view in views:
        kept = [(row, position[names[m]]) for row, m in enumerate(view.metric_ids)
                if names[m] in position]
        sources = np.asarray([row for row, _ in kept], dtype=np.intp)
        targets = np.asarray([target for _, target in kept], dtype=np.intp)
        for ts, values in iter_chunks(view, start_us, end_us, rows):
            k = ts.shape[0]
            full = np.full((len(metrics), k), np.nan)
            full[targets] = values[sources]
            times = (pa.array(format_timestamps(ts), pa.string()) if csv
                     else pa.array(ts, pa.timestamp("us", tz="UTC")))
            columns = [pa.array(np.full(k, view.sensor_id, dtype=object), pa.string()), times,
                       pa.nulls(k, pa.string()) if view.location is None
                       else pa.array(np.full(k, view.location, dtype=object), pa.string())]
            columns += [pa.array(row, pa.float64(), mask=np.isnan(row)) for row in full]
            yield pa.RecordBatch.from_arrays(columns, schema=schema)


def encode(batches: Iterator[pa.RecordBatch], schema: pa.Schema, fmt: str) -> Iterator[bytes]:
    """The export file, a piece at a time (CSV with a header line; Parquet with its footer)."""
    spool = _Spool()
    writer: pa_csv.CSVWriter | pa_parquet.ParquetWriter
    if fmt == "csv":
        writer = pa_csv.CSVWriter(spool, schema)
    else:
        writer = pa_parquet.ParquetWriter(spool, schema, compression="zstd")
    try:
        for batch in batches:
            if fmt == "csv":
                writer.write_batch(batch)
            else:
                writer.write_table(pa.Table.from_batches([batch]))
            piece = spool.take()
            if piece:
                yield piece
    finally:
        writer.close()
    tail = spool.take()
    if tail or fmt == "csv":
        yield tail
