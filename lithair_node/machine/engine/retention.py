"""Retention: drop the raw readings older than a per-sensor cutoff (Prometheus deletes whole
blocks, InfluxDB whole shards; we do the same with sealed segments, and filter the rest).

- a sealed segment whose every row is expired is dropped whole;
- a segment with some expired rows is rewritten without them only once at least
  REWRITE_FRACTION of its rows have expired, so a row is rewritten a bounded number of
  times (until then its expired rows stay readable, as in a Prometheus block);
- the hot buffer is filtered on every call (one vectorised compare; fresh arrays, so the
  views readers hold stay valid).

The readings hash and the engine's reading count lose what is dropped, so the digest is
that of the data held. Running per-cell statistics and latest values are not rewound: they
stay lifetime figures (min and max cannot be un-merged). Segments are renumbered in order
afterwards: snapshot files name segments 0..count-1.
"""

from __future__ import annotations

import numpy as np

from lithair_node.machine.digest import MASK64, cells_hash
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.sealing import Part, renumbered

REWRITE_FRACTION = 0.5
KEEP_ALL = np.iinfo(np.int64).min  # a cutoff that expires nothing


def drop_older(engine: Engine, cutoff: np.ndarray, rewrite_fraction: float = REWRITE_FRACTION) -> int:
    """Drop rows with ts < cutoff[sensor number] (int64 per sensor); return rows dropped."""
    if not cutoff.shape[0] or not (cutoff > KEEP_ALL).any():
        return 0
    dropped = 0
    kept: list[Part] = []  # a Sealing part is read (and dropped or resealed) like a segment
    for segment in engine.segments:
        limit = cutoff[segment.sensors]
        if not (segment.min_ts < limit).any():
            kept.append(segment)
            continue
        sensor, ts, metrics, values = decode_segment(segment)
        expired = ts < cutoff[sensor]
        n = int(expired.sum())
        if n == segment.rows:
            _forget(engine, sensor, ts, metrics, values)
            dropped += n
        elif n >= rewrite_fraction * segment.rows:
            _forget(engine, sensor[expired], ts[expired], metrics, values[:, expired])
            keep = ~expired
            kept.append(_reseal(segment.number, sensor[keep], ts[keep], metrics, values[:, keep]))
            dropped += n
        else:
            kept.append(segment)
    engine.segments = [renumbered(s, i) for i, s in enumerate(kept)]
    dropped += _filter_hot(engine, cutoff)
    engine.total_readings -= dropped
    return dropped


def decode_segment(segment: Part) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sensor per row, ts, metric ids, values (metrics x rows, NaN absent)) of a segment."""
    sensor = np.repeat(segment.sensors, np.diff(segment.starts))
    ts = segment.ts_between(0, segment.rows)
    metrics = segment.metric_ids()
    values = np.vstack([segment.values_between(int(m), 0, segment.rows) for m in metrics]) \
        if metrics.shape[0] else np.empty((0, segment.rows))
    return sensor, ts, metrics, values


def _forget(engine: Engine, sensor: np.ndarray, ts: np.ndarray, metrics: np.ndarray,
            values: np.ndarray) -> None:
    """Take dropped cells out of the readings hash (digest.py: a sum, so a subtraction)."""
    gone = cells_hash(engine.sensor_hash[sensor], ts, engine.metric_hash[metrics], values)
    engine.readings_hash = (engine.readings_hash - gone) & MASK64


def _reseal(number: int, sensor: np.ndarray, ts: np.ndarray, metrics: np.ndarray,
            values: np.ndarray) -> segments.Segment:
    present = ~np.isnan(values)
    metric_row, row = np.nonzero(present)
    return segments.seal(number, sensor, ts, row, metrics[metric_row], values[present])


def _filter_hot(engine: Engine, cutoff: np.ndarray) -> int:
    hot = engine.hot.view()
    expired = hot.ts < cutoff[hot.sensor]
    n = int(expired.sum())
    if not n:
        return 0
    width = len(engine.metrics.names)
    gone = np.flatnonzero(expired)
    _forget(engine, hot.sensor[gone].astype(np.int64), hot.ts[gone],
            np.arange(width, dtype=np.int64), hot.dense(gone, np.arange(width), width))
    keep = ~expired
    new_row = np.cumsum(keep) - 1  # old row -> its row among those kept
    kept_triples = keep[hot.row]
    engine.hot.load(hot.sensor[keep], hot.ts[keep], new_row[hot.row[kept_triples]],
                    hot.metric[kept_triples], hot.value[kept_triples])
    return n


def count_older(engine: Engine, cutoff: np.ndarray) -> np.ndarray:
    """Per sensor number, how many rows have ts < cutoff[sensor] (what drop_older with
    rewrite_fraction=0 would drop): the cold tier checks its files against it."""
    counts = np.zeros(cutoff.shape[0], dtype=np.int64)
    for segment in engine.segments:
        if not (segment.min_ts < cutoff[segment.sensors]).any():
            continue
        sensor = np.repeat(segment.sensors, np.diff(segment.starts))
        ts = segment.ts_between(0, segment.rows)
        np.add.at(counts, sensor[ts < cutoff[sensor]], 1)
    hot = engine.hot.view()
    np.add.at(counts, hot.sensor[hot.ts < cutoff[hot.sensor]], 1)
    return counts


def oldest_ts(engine: Engine) -> np.ndarray:
    """Per sensor number, the oldest ts held (int64 max where none): for tiering."""
    oldest = np.full(engine.last_ts.shape[0], np.iinfo(np.int64).max)
    for segment in engine.segments:
        np.minimum.at(oldest, segment.sensors, segment.min_ts)
    hot = engine.hot.view()
    if hot.ts.shape[0]:
        np.minimum.at(oldest, hot.sensor, hot.ts)
    return oldest
