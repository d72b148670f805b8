"""The metric-name limits (issue 11): how many metric names one sensor (its cells) and the
cluster (the metric numbering) may hold. A batch that would go beyond either is refused as
a whole, before anything of it is stored.

The same check runs on the node receiving a write (against its current state: a fast 422)
and in apply (against the state the entry meets, batch after batch: what decides). It is
conservative: every value a batch carries counts, even one that dedup would later drop.

Cheap first: a bound in O(1) (the most names any sensor has, plus every name the batch and
the entry's earlier batches carry), then per-sensor counts (two binary searches a sensor),
and only near a limit the exact new (sensor, metric) pairs.
"""

from __future__ import annotations

import numpy as np

from lithair_node.machine.commands import BatchColumns, MetricLimits
from lithair_node.machine.engine.cells import cell_keys
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.numbering import UNKNOWN


def metric_counts(engine: Engine, numbers: np.ndarray) -> np.ndarray:
    """Metric names each sensor number holds (0 for UNKNOWN: a sensor not seen yet)."""
    known = np.where(numbers >= 0, numbers, 0).astype(np.int64)
    lo, hi = engine.cells.bounds(known)
    return np.where(numbers >= 0, hi - lo, 0)


def _pairs(columns: BatchColumns) -> tuple[np.ndarray, np.ndarray]:
    """(metric row, group) of every pair the batch gives at least one value."""
    counts = columns.counts.astype(np.int64)
    starts = np.cumsum(counts) - counts
    present = np.logical_or.reduceat(~np.isnan(columns.values), starts, axis=1)
    return np.nonzero(present)


class LimitCheck:
    """The batches of one entry (or one request), judged in order against the engine plus
    the batches accepted before them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._names: set[str] = set()  # new metric names of accepted batches
        self._pairs: set[tuple[str, str]] = set()  # new (sensor, metric) pairs of ...
        self._unpaired: list[BatchColumns] = []  # ... every accepted batch but these
        self._carried = 0  # metric names the accepted batches carry, summed (a bound)

    def refusal(self, columns: BatchColumns, limits: MetricLimits) -> str | None:
        """Why the batch goes beyond a limit, or None (then it counts for later batches)."""
        names, message = self._cluster(columns, limits)
        message = message or self._per_sensor(columns, limits)
        if message is None:  # what a refused batch would have added is forgotten
            self._names.update(names)
            self._carried += len(columns.metrics)
            self._unpaired.append(columns)
        return message

    def _cluster(self, columns: BatchColumns, limits: MetricLimits) -> tuple[list[str], str | None]:
        held = len(self.engine.metrics) + len(self._names)
        new = [n for n in columns.metrics
               if self.engine.metrics.get(n) == UNKNOWN and n not in self._names]
        if held + len(new) > limits.per_cluster:
            return new, (f"the cluster would hold {held + len(new)} metric names, over its limit "
                         f"of {limits.per_cluster} (it holds {held}; this batch adds {len(new)})")
        return new, None

    def _per_sensor(self, columns: BatchColumns, limits: MetricLimits) -> str | None:
        limit, width = limits.per_sensor, len(columns.metrics)
        if self.engine.most_metrics_per_sensor() + self._carried + width <= limit:
            return None
        numbers = self.engine.sensors.lookup(columns.sensors)
        held = metric_counts(self.engine, numbers)
        if int(held.max(initial=0)) + self._carried + width <= limit:
            return None
        return self._exact(columns, numbers, held, limit)

    def _exact(self, columns: BatchColumns, numbers: np.ndarray, held: np.ndarray,
               limit: int) -> str | None:
        for earlier in self._unpaired:  # batches the bounds let through: their pairs count
            for pairs in self._new_pairs(earlier, self.engine.sensors.lookup(earlier.sensors)).values():
                self._pairs.update(pairs)
        self._unpaired.clear()
        new = self._new_pairs(columns, numbers)
        pending: dict[str, int] = {}
        for sensor, _ in self._pairs:
            pending[sensor] = pending.get(sensor, 0) + 1
        sensors = columns.sensors
        for g, pairs in new.items():
            have = int(held[g]) + pending.get(sensors[g], 0)
            if have + len(pairs) > limit:
                return (f"sensor {sensors[g]!r} would have {have + len(pairs)} metric names, over "
                        f"the limit of {limit} per sensor (it has {have}; this batch adds "
                        f"{len(pairs)})")
        for pairs in new.values():
            self._pairs.update(pairs)
        return None

    def _new_pairs(self, columns: BatchColumns,
                   numbers: np.ndarray) -> dict[int, list[tuple[str, str]]]:
        """Per group, the (sensor, metric) pairs neither stored nor pending."""
        metric_row, group = _pairs(columns)
        metric_ids = self.engine.metrics.lookup(columns.metrics)
        stored = np.zeros(group.shape[0], dtype=bool)
        known = (numbers[group] >= 0) & (metric_ids[metric_row] >= 0)
        cell_index = self.engine.cells.keys
        if known.any() and cell_index.shape[0]:
            keys = cell_keys(numbers[group[known]], metric_ids[metric_row[known]])
            pos = np.minimum(np.searchsorted(cell_index, keys), cell_index.shape[0] - 1)
            stored[known] = cell_index[pos] == keys
        sensors, metrics = columns.sensors, columns.metrics
        new: dict[int, list[tuple[str, str]]] = {}
        for g, row in zip(group[~stored].tolist(), metric_row[~stored].tolist(), strict=True):
            pair = (sensors[g], metrics[row])
            if pair not in self._pairs:
                new.setdefault(g, []).append(pair)
        return new
