"""Anomaly detection inside apply: pure, deterministic, part of the replicated state.

A stored reading is anomalous when, for one of its metrics, its value lies more than
`sigma` sample standard deviations from that sensor's running mean of that metric, taken
over every reading stored before it in apply order (Welford's running mean/variance,
evaluated per reading). Flagging starts once `min_count` readings back the estimate.

Per sensor there is a cooldown measured in reading timestamps, never the wall clock: once
an anomaly at timestamp t is reported, readings of that sensor with |ts - t| < cooldown are
not reported (the running statistics still take them in). Reported anomalies go to a ring
buffer of the CAPACITY most recent ones, in apply order.

Settings (sigma, cooldown, min count) change only through a replicated `settings` log
entry, so every node flags exactly the same readings.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import msgpack
import numpy as np

from lithair_node.machine.anomaly_judging import StatsAt, _judge_groups, _judge_singles, _judged
from lithair_node.machine.digest import MASK64, bytes_hash

CAPACITY = 10_000
# Suspects a batch judges one by one in Python rather than in numpy passes (same outcome).
_FEW = 64
US_PER_SECOND = 1_000_000


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class AnomalySettings:
    sigma: float = 3.0
    cooldown_us: int = 60 * US_PER_SECOND
    min_count: int = 30

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, changes: Any) -> AnomalySettings:
        """A copy with `changes` ({"sigma", "cooldown_us", "min_count"}, all optional)
        applied; SettingsError if any is missing its meaning."""
        if not isinstance(changes, dict) or not changes:
            raise SettingsError("settings must be a non-empty object")
        unknown = set(changes) - {"sigma", "cooldown_us", "min_count"}
        if unknown:
            raise SettingsError(f"unknown anomaly setting {sorted(unknown)[0]!r}")
        new = replace(self, **changes)
        if not (type(new.sigma) in (int, float) and math.isfinite(new.sigma) and new.sigma > 0):
            raise SettingsError("sigma must be a finite number > 0")
        if type(new.cooldown_us) is not int or not 0 <= new.cooldown_us <= 10**15:
            raise SettingsError("cooldown must be between 0 and 10^9 seconds")
        if type(new.min_count) is not int or not 2 <= new.min_count <= 10**9:
            raise SettingsError("min_count must be an integer >= 2")
        return replace(new, sigma=float(new.sigma))


class Anomaly(NamedTuple):
    """One anomalous reading. `metrics` holds (name, value, running mean, running stddev)
    for each metric that was out of bounds."""

    sensor_id: str
    timestamp_us: int
    raft_index: int
    metrics: tuple[tuple[str, float, float, float], ...]

    def packed(self) -> list[Any]:
        return [self.sensor_id, self.timestamp_us, self.raft_index, [list(m) for m in self.metrics]]

    @classmethod
    def unpacked(cls, raw: list[Any]) -> Anomaly:
        sensor_id, ts, index, metrics = raw
        return cls(sensor_id, int(ts), int(index), tuple(
            (str(name), float(v), float(mean), float(std)) for name, v, mean, std in metrics))


def _hash(*parts: Any) -> int:
    return bytes_hash(msgpack.packb(parts, use_bin_type=True))


def _hasher() -> Any:
    """_hash with a packer of its own (one per detector: used under the state lock only)."""
    pack = msgpack.Packer(use_bin_type=True).pack
    return lambda *parts: bytes_hash(pack(parts))


class AnomalyDetector:
    """Owned by the StateMachine; every method is called under its lock."""

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.settings = AnomalySettings()
        self.total = 0  # anomalies reported since the beginning (the buffer keeps the last ones)
        self._records: deque[tuple[Anomaly, int]] = deque()  # (anomaly, its hash)
        self._last_ts: dict[str, int] = {}  # per sensor: timestamp of the last reported anomaly
        self._mark_hash: dict[str, int] = {}  # per sensor: the hash its mark adds
        self._hashed = _hasher()
        self._hash = 0

    @property
    def hash(self) -> int:
        """Sum of hashes of the settings, buffered records and cooldown marks (mod 2^64)."""
        return (self._hash + _hash("settings", *asdict(self.settings).values(), self.total)) & MASK64

    def configure(self, changes: Any) -> AnomalySettings:
        self.settings = self.settings.updated(changes)
        return self.settings

    def records(self) -> list[Anomaly]:
        return [record for record, _ in self._records]

    # -- apply ---------------------------------------------------------------------------

    # Values near float64's limit overflow a deviation or its square to inf: that is the
    # honest answer (the reading is judged on it), not a warning on stderr for every batch.
    @np.errstate(over="ignore", invalid="ignore", divide="ignore")
    def observe(
        self,
        sensors: list[str],
        counts: np.ndarray,
        cell_of: np.ndarray,
        ts: np.ndarray,
        values: np.ndarray,
        running: np.ndarray,
        metric_names: list[str],
        raft_index: int,
        run: slice | None = None,
    ) -> None:
        """Check the readings a batch is about to store against the running statistics.

        `ts`/`values` (metrics x readings, NaN = absent) hold the stored readings grouped by
        sensor (`counts` per group, timestamps ascending within a group); `cell_of[j, g]` is
        the aggregate cell of metric row j for group g (-1: absent); `running` is the
        (count, mean, m2) x cells array as it was before this batch; `metric_names[j]` names
        row j. `run`: every cell_of is a cell and they are run's cells, metric-major.
        """
        n = ts.shape[0]
        if run is None:
            has = cell_of >= 0
            if n == 0 or not has.any():
                return
            full = bool(has.all())
            safe = np.maximum(cell_of, 0)  # a group without the metric has only NaN here
            n0, mean0, m2_0 = running[:, safe]  # one gather: (3, metrics, groups)
        else:  # every pair has a cell, the cells one slice: views, no gather
            if n == 0:
                return
            has, full = cell_of, True
            n0, mean0, m2_0 = running[:, run].reshape((3, *cell_of.shape))
        settings = self.settings
        limit = settings.sigma * settings.sigma
        judged = (_judge_singles(values, n0, mean0, m2_0, limit, settings.min_count)
                  if counts.shape[0] == n else None)
        if judged is None:
            judged = _judged(*_judge_groups(values, counts, n0, mean0, m2_0, limit,
                                            settings.min_count))
        out, stats_at = judged
        single = counts.shape[0] == n
        if not full:
            group = np.arange(n) if single else np.repeat(np.arange(len(sensors)), counts)
            out &= has[:, group]  # only (metric, group) pairs with a cell are judged
        suspects = np.flatnonzero(out.any(axis=0))  # grouped by sensor, ts ascending
        if not suspects.shape[0]:
            return
        # The group of each suspect (reading r is in the group whose end is the first > r).
        groups = suspects if single else np.searchsorted(np.cumsum(counts), suspects, side="right")
        report = self._report_few if suspects.shape[0] <= _FEW else self._report
        report(suspects, out, stats_at, groups, sensors, ts, values, metric_names, raft_index)

    def _report_few(self, suspects: np.ndarray, out: np.ndarray, stats_at: StatsAt,
                    groups: np.ndarray, sensors: list[str], ts: np.ndarray,
                    values: np.ndarray, metric_names: list[str], raft_index: int) -> None:
        """_report for a few suspects (the usual batch): the rule itself, one suspect after
        the other in Python (exact ints), cheaper there than _report's numpy passes. A
        suspect is reported unless its sensor's mark lies within the cooldown of it."""
        cooldown, marks = self.settings.cooldown_us, self._last_ts
        details = None
        for i, g, t in zip(range(suspects.shape[0]), groups.tolist(), ts[suspects].tolist(),
                           strict=True):
            sensor = sensors[g]
            last = marks.get(sensor)
            if last is not None and abs(t - last) < cooldown:
                continue
            if details is None:  # elementwise: a column's details do not depend on the others
                details = _details(suspects, out, stats_at, values, metric_names)
            self._push(Anomaly(sensor, t, raft_index, details[i]))
            self._mark(sensor, t)

    def _report(self, suspects: np.ndarray, out: np.ndarray, stats_at: StatsAt,
                groups: np.ndarray, sensors: list[str], ts: np.ndarray,
                values: np.ndarray, metric_names: list[str], raft_index: int) -> None:
        cooldown = self.settings.cooldown_us
        firsts = np.flatnonzero(np.diff(groups, prepend=-1))  # one part per sensor
        names = [sensors[g] for g in groups[firsts].tolist()]
        times = ts[suspects]
        # Most suspects fall inside their sensor's cooldown from before the batch: judged
        # at once; a part runs the exact loop only from its first suspect outside it.
        begin = self._outside_cooldown(names, times, firsts, cooldown)
        ends = np.append(firsts[1:], suspects.shape[0])
        live = np.flatnonzero(begin < ends)
        if not live.shape[0]:
            return
        # Details of every suspect in one pass (a few a batch: cheaper than a pass each).
        details = _details(suspects, out, stats_at, values, metric_names)
        ends_l = ends.tolist()
        for k, i in zip(live.tolist(), begin[live].tolist(), strict=True):
            # A part's suspect at `begin` is reported for sure; later ones are judged
            # against the mark it leaves.
            sensor, first, end = names[k], int(firsts[k]), ends_l[k]
            t = int(times[i])
            self._push(Anomaly(sensor, t, raft_index, details[i]))
            self._mark(sensor, t)
            i += 1
            while i < end:
                t = int(times[i])
                last = self._last_ts[sensor]
                if abs(t - last) < cooldown:
                    # Jump past the suppressed window instead of testing each suspect.
                    skip = first + int(np.searchsorted(times[first:end], last + cooldown))
                    i = max(i + 1, skip)
                    continue
                self._push(Anomaly(sensor, t, raft_index, details[i]))
                self._mark(sensor, t)
                i += 1

    def _outside_cooldown(self, names: list[str], times: np.ndarray, firsts: np.ndarray,
                          cooldown: int) -> np.ndarray:
        """Per part: the first suspect not within `cooldown` of its sensor's last reported
        anomaly (the part's end when none is); what precedes it is suppressed."""
        last = [self._last_ts.get(name) for name in names]
        known = [v for v in last if v is not None]
        end = np.append(firsts[1:], times.shape[0])
        if not known or max(map(abs, known)) > 1 << 61 or np.abs(times).max() > 1 << 61:
            return firsts  # no mark (or ts near the int64 limits): judge every part exactly
        marks = np.asarray([v if v is not None else 0 for v in last], dtype=np.int64)
        lengths = end - firsts
        gap = np.abs(times - np.repeat(marks, lengths))
        marked = np.repeat(np.asarray([v is not None for v in last]), lengths)
        inside = marked & (gap < cooldown)
        at = np.where(inside, times.shape[0], np.arange(times.shape[0]))
        return np.minimum(np.minimum.reduceat(at, firsts), end)

    def _push(self, record: Anomaly) -> None:
        record_hash = self._hashed("anomaly", *record.packed())
        self._records.append((record, record_hash))
        self._hash += record_hash
        self.total += 1
        if len(self._records) > CAPACITY:
            _, evicted = self._records.popleft()
            self._hash -= evicted
        self._hash &= MASK64

    def _mark(self, sensor: str, ts: int) -> None:
        previous = self._mark_hash.get(sensor)
        if previous is not None:
            self._hash -= previous
        self._last_ts[sensor] = ts
        mark = self._mark_hash[sensor] = self._hashed("cooldown", sensor, ts)
        self._hash = (self._hash + mark) & MASK64

    # -- snapshot ------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        return {
            "settings": self.settings.as_dict(),
            "total": self.total,
            "records": [record.packed() for record, _ in self._records],
            "cooldown": dict(self._last_ts),
        }

    def load(self, data: dict[str, Any]) -> None:
        self._clear()
        if not data:
            return
        self.settings = AnomalySettings().updated(data["settings"])
        for raw in data["records"]:
            self._push(Anomaly.unpacked(raw))
        for sensor, ts in data["cooldown"].items():
            self._mark(sensor, int(ts))
        self.total = int(data["total"])


def _details(columns: np.ndarray, out: np.ndarray, stats_at: StatsAt, values: np.ndarray,
             metric_names: list[str]) -> list[tuple[Any, ...]]:
    """Per column: (name, value, running mean, running stddev) of each flagged metric,
    sorted, with one gather per field for all the columns."""
    at, row = np.nonzero(out[:, columns].T)  # column by column, rows ascending
    column = columns[at]
    mean, variance = stats_at(row, column)
    found: list[list[tuple[str, float, float, float]]] = [[] for _ in range(columns.shape[0])]
    for j, name_row, value, m, std in zip(at.tolist(), row.tolist(),
                                          values[row, column].tolist(),
                                          mean.tolist(), np.sqrt(variance).tolist(),
                                          strict=True):
        found[j].append((metric_names[name_row], value, m, std))
    return [tuple(sorted(metrics)) for metrics in found]
