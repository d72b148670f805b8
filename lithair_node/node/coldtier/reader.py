"""Reads of the cold tier, in the shape of the engine's reads (machine/engine/reads.py): a
sensor's readings in [start, end) as ts (int64 microseconds, ascending) and values
(metrics x k, float64, NaN where absent) with the metric names of the rows.

Only the files the manifest says overlap the range are opened; inside them pyarrow.dataset
pushes the sensor and time filter down to the row groups' statistics (the files are sorted
by (sensor_id, ts), so a sensor's rows sit in one or two row groups), and only the metric
columns asked for are decoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from lithair_node.node.coldtier.manifest import ColdFile
from lithair_node.node.coldtier.store import ColdStore
from lithair_node.node.coldtier.writer import TS_TYPE


@dataclass(frozen=True)
class ColdRange:
    metric_names: tuple[str, ...]
    ts: np.ndarray  # int64, ascending
    values: np.ndarray  # (len(metric_names), len(ts)) float64, NaN: no value

    @property
    def rows(self) -> int:
        return int(self.ts.shape[0])


def range_filter(start: int, end: int, sensors: Sequence[str] | None = None,
                 location: str | None = None) -> ds.Expression:
    """The pushdown predicate: ts in [start, end), and the sensors / location if given."""
    expr = (ds.field("ts") >= _ts(start)) & (ds.field("ts") < _ts(end))
    if sensors is not None:
        expr &= (ds.field("sensor_id") == sensors[0]) if len(sensors) == 1 else \
            ds.field("sensor_id").isin(list(sensors))
    if location is not None:
        expr &= ds.field("location") == location
    return expr


class ColdReader:
    """Reads over the files of one manifest (a list of ColdFile, as committed)."""

    def __init__(self, store: ColdStore, files: Iterable[ColdFile]) -> None:
        self.store = store
        self.files = sorted(files, key=lambda f: (f.min_ts, f.path))

    def files_between(self, start: int, end: int) -> list[ColdFile]:
        return [f for f in self.files if f.overlaps(start, end)]

    def oldest_ts(self) -> int | None:
        """The first timestamp the tier may hold (a read older than the hot data asks it)."""
        return min((f.min_ts for f in self.files), default=None)

    def dataset(self, files: Sequence[ColdFile], metrics: Sequence[str]) -> ds.Dataset:
        """The files as one dataset; a metric a file lacks reads as nulls."""
        schema = pa.schema([("sensor_id", pa.string()), ("location", pa.string()), ("ts", TS_TYPE),
                            *((m, pa.float64()) for m in metrics)])
        return ds.dataset([self.store.full_path(f.path) for f in files], schema=schema,
                          format="parquet", filesystem=self.store.filesystem)

    def readings(self, sensor: str, start: int, end: int,
                 metrics: Sequence[str] | None = None) -> ColdRange:
        """One sensor's readings in [start, end). `metrics`: the rows to return, in that
        order (the engine's metric names of the sensor); None: every metric with a value."""
        found = self.readings_of(start, end, sensors=[sensor], metrics=metrics)
        return found.get(sensor) or _empty(metrics)

    def readings_of(self, start: int, end: int, *, sensors: Sequence[str] | None = None,
                    location: str | None = None,
                    metrics: Sequence[str] | None = None) -> dict[str, ColdRange]:
        """Per sensor (of `sensors`, of `location`, or all), its readings in [start, end)."""
        files = self.files_between(start, end)
        if not files or (sensors is not None and not sensors):
            return {}
        wanted = list(metrics) if metrics is not None else sorted({m for f in files for m in f.metrics})
        table = self.dataset(files, wanted).to_table(
            columns=["sensor_id", "ts", *wanted], filter=range_filter(start, end, sensors, location))
        if table.num_rows == 0:
            return {}
        ids = table["sensor_id"].to_numpy(zero_copy_only=False)
        ts = pc.cast(table["ts"], pa.int64()).to_numpy()
        values = np.vstack([table[m].to_numpy(zero_copy_only=False).astype(np.float64) for m in wanted]) \
            if wanted else np.empty((0, ts.shape[0]))
        names, sensor_of_row = np.unique(ids, return_inverse=True)
        order = np.lexsort((ts, sensor_of_row))  # files of other days / parts come unordered
        ts, values, sensor_of_row = ts[order], values[:, order], sensor_of_row[order]
        cuts = np.searchsorted(sensor_of_row, np.arange(names.shape[0] + 1))
        out = {}
        for i, name in enumerate(names.tolist()):
            a, b = int(cuts[i]), int(cuts[i + 1])
            out[name] = _trimmed(wanted, ts[a:b], values[:, a:b], keep_all=metrics is not None)
        return out


def _ts(us: int) -> pa.Scalar:
    return pa.scalar(int(us), pa.int64()).cast(TS_TYPE)


def _trimmed(metrics: list[str], ts: np.ndarray, values: np.ndarray, *, keep_all: bool) -> ColdRange:
    if keep_all:
        return ColdRange(tuple(metrics), ts, values)
    has = ~np.isnan(values).all(axis=1)
    return ColdRange(tuple(m for m, h in zip(metrics, has.tolist(), strict=True) if h), ts, values[has])


def _empty(metrics: Sequence[str] | None) -> ColdRange:
    names = tuple(metrics or ())
    return ColdRange(names, np.empty(0, dtype=np.int64), np.empty((len(names), 0)))
