"""The storage engine: apply of one batch in a fixed number of vectorised passes, whatever
the number of sensors it touches (see the package docstring for the layout)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lithair_node.machine import stats
from lithair_node.machine.commands import BatchColumns
from lithair_node.machine.digest import MASK64, cells_hash, text_hashes
from lithair_node.machine.engine import compaction, merging
from lithair_node.machine.engine.cells import METRIC_BITS, CellIndex, room
from lithair_node.machine.engine.dedup import already_stored
from lithair_node.machine.engine.hot import HotBuffer
from lithair_node.machine.engine.latest import NO_TS, CellLatest
from lithair_node.machine.engine.numbering import Numbering
from lithair_node.machine.engine.pictures import EngineView, Observer, StoredBatch
from lithair_node.machine.engine.running import RunningStats, grouped_dense
from lithair_node.machine.engine.sealing import (
    DEFAULT_BUILDER,
    DEFAULT_MERGE_BUILDER,
    Builder,
    Part,
    Sealing,
)
from lithair_node.machine.engine.shapes import Shape, Shapes, frozen, run_of

SEAL_ROWS = 1 << 19


class Engine:
    def __init__(self, seal_rows: int | None = None, builder: Builder | None = None) -> None:
        self.seal_rows = SEAL_ROWS if seal_rows is None else seal_rows  # read late: tests shrink it
        # Builds sealed segments off the apply path (sealing.py); tests hold builds pending.
        self.builder: Builder = DEFAULT_BUILDER if builder is None else builder
        # Builds merges (None: the process's merge thread beside DEFAULT_BUILDER, so a seal's
        # build never queues behind a merge's; an engine given its own builder uses it).
        self.merge_builder: Builder | None = None
        # Merge sealed segments (compaction.py)? None: compaction.ENABLED, read at each plan.
        # Not state: nodes that differ in it hold the same readings in other segments.
        self.compaction: bool | None = None
        self.swaps_waited = 0  # swaps whose build was not done yet (not state: no digest)
        self.merges_waited = 0  # the same for merges
        self._merge: merging.PendingMerge | None = None  # what the next cut swaps in
        self._unstarted: Sealing | None = None  # the last cut's part, its build held back...
        self._start_at_rows = 0  # ...until the hot buffer holds this many rows
        self.sensors = Numbering()
        self.metrics = Numbering()
        self.locations = Numbering()
        self.cells = CellIndex()
        self.running = RunningStats()
        self.latest = CellLatest()
        # Room for the rows sealing allows plus one large batch, so the buffer never regrows,
        # and for 8 values a row (virtual until written: np.empty of this size is mmap'd).
        rows = self.seal_rows + 65_536
        self.hot = HotBuffer(rows, 8 * rows)
        self._segments: list[Part] = []  # sealed segments, the last perhaps still Sealing
        # Per sensor number, with room to grow (the properties cut at the sensors known).
        self._last_ts = np.empty(0, dtype=np.int64)
        self._location = np.empty(0, dtype=np.int64)  # location number, -2: none
        self._sensor_hash = np.empty(0, dtype=np.uint64)
        self.metric_hash = np.empty(0, dtype=np.uint64)
        self.total_readings = 0
        self.readings_hash = 0  # digest.py's sum over every stored cell
        self._most_metrics: int | None = None  # most cells of one sensor (None: not known yet)
        self._shapes = Shapes()  # what recurring batches derive from their names (shapes.py)

    @property
    def segments(self) -> list[Part]:
        return self._segments

    @segments.setter
    def segments(self, value: list[Part]) -> None:
        """Retention and a restore replace the list: the merge the next cut swaps in is
        planned again from it (merging.py), and started at once."""
        self._segments = value
        self._merge = self._plan(self._merge)
        if self._merge is not None:
            self._merge.start()

    def _plan(self, pending: merging.PendingMerge | None) -> merging.PendingMerge | None:
        enabled = compaction.ENABLED if self.compaction is None else self.compaction
        if not enabled:
            return None
        return merging.plan(self._segments, self.seal_rows, self.merges(), pending)

    def merges(self) -> Builder:
        """Where merges are built (see merge_builder)."""
        if self.merge_builder is not None:
            return self.merge_builder
        return DEFAULT_MERGE_BUILDER if self.builder is DEFAULT_BUILDER else self.builder

    @property
    def last_ts(self) -> np.ndarray:
        return self._last_ts[: len(self.sensors)]

    @last_ts.setter
    def last_ts(self, value: np.ndarray) -> None:
        self._last_ts = value

    @property
    def location(self) -> np.ndarray:
        return self._location[: len(self.sensors)]

    @location.setter
    def location(self, value: np.ndarray) -> None:
        self._location = value

    @property
    def sensor_hash(self) -> np.ndarray:
        return self._sensor_hash[: len(self.sensors)]

    @sensor_hash.setter
    def sensor_hash(self, value: np.ndarray) -> None:
        self._sensor_hash = value

    def apply_batch(self, columns: BatchColumns, observer: Observer | None = None) -> StoredBatch:
        numbers, shape = self._sensor_numbers(columns.sensors)
        metric_ids = self._metric_ids(columns.metrics)
        moved, moved_from = self._set_locations(numbers, columns.locations, shape)
        counts = columns.counts.astype(np.int64)
        sensor_of = np.repeat(numbers, counts)
        ts, values = columns.ts, columns.values
        keep = self._unstored(sensor_of, ts)
        group_sensors = columns.sensors
        if keep is not None:
            shape = None  # the groups kept are not the shape's
            sensor_of, ts, values = sensor_of[keep], ts[keep], values[:, keep]
            counts = np.bincount(np.repeat(np.arange(counts.shape[0]), counts)[keep],
                                 minlength=counts.shape[0])
            nonempty = counts > 0
            numbers, counts = numbers[nonempty], counts[nonempty]
            group_sensors = [s for s, ne in zip(columns.sensors, nonempty.tolist(), strict=True) if ne]
        cell_of = np.full((metric_ids.shape[0], counts.shape[0]), -1, dtype=np.int64)
        if not ts.shape[0]:
            return StoredBatch(keep, group_sensors, counts, cell_of, ts, values, moved, moved_from)
        return self._store(StoredBatch(keep, group_sensors, counts, cell_of, ts, values, moved,
                                       moved_from), numbers, metric_ids, sensor_of, observer, shape)

    def _store(self, stored: StoredBatch, numbers: np.ndarray, metric_ids: np.ndarray,
               sensor_of: np.ndarray, observer: Observer | None,
               shape: Shape | None) -> StoredBatch:
        counts, ts, values = stored.counts, stored.ts, stored.values
        single = counts.shape[0] == ts.shape[0]  # one reading a group: it is its partial
        if single:
            has = ~np.isnan(values)
        else:
            ends = np.cumsum(counts)
            if np.isnan(values).any():
                partials = stats.grouped(values, ends - counts)
                has = partials[0] > 0  # (metric, group) pairs with a value: their cells
            else:  # the usual batch: the same partials in fewer passes, every pair a cell
                partials = grouped_dense(values, ends - counts, counts)
                has = np.ones(partials[0].shape, dtype=bool)
        cells, run = self._cells(shape, numbers, metric_ids, has)
        every = bool(has.all())  # every (metric, group) pair has a value, so a cell
        full = run is not None and every  # ... and the cells are a slice
        index = run if run is not None else cells  # a slice indexes as a view: no gather
        if every:  # has's row-major order is the matrix's: no mask
            stored.cell_of.reshape(-1)[:] = cells
            if full:
                stored = replace(stored, cell_run=run)
        else:
            stored.cell_of[has] = cells
        # Scattered cells of a grouped batch: their statistics gathered once, for the
        # detector and the merge alike (a second gather misses the cache again at large S).
        before = self.running.gather(cells) if every and run is None and not single else None
        if observer is not None:
            if before is None:
                observer(stored, self.running.running())
            else:  # the gathered columns, in cell_of's order: cell_run indexes them
                observer(replace(stored, cell_run=slice(0, cells.shape[0])), np.stack(before[:3]))
        if single and full:  # each group's reading is its newest, each pair a cell
            present = values.reshape(-1)
            self.running.merge_values(index, present)
            newer = ts > self.last_ts[numbers]  # late readings never change the latest
            if newer.all():
                self.latest.update(index, np.tile(ts, has.shape[0]), present)
            else:
                update = np.tile(newer, has.shape[0])
                self.latest.update(cells[update], np.tile(ts, has.shape[0])[update],
                                   present[update])
            self.last_ts[numbers[newer]] = ts[newer]
        elif single:
            metric_row, group = np.nonzero(has)
            present = values.reshape(-1) if every else values[has]  # = values[metric_row, group]
            self.running.merge_values(index, present)
            newer = ts > self.last_ts[numbers]
            update = newer[group]
            self.latest.update(cells[update], ts[group[update]], present[update])
            self.last_ts[numbers[newer]] = ts[newer]
        else:
            metric_row, group = np.nonzero(has)
            # Every pair a cell: the rows in has's (row-major) order are the rows themselves.
            self.running.merge(index, [row.reshape(-1) if every else row[has] for row in partials],
                               before)
            newest = ends - 1
            newer = ts[newest] > self.last_ts[numbers]
            newest_value = values[metric_row, newest[group]]
            update = newer[group] & ~np.isnan(newest_value)
            self.latest.update(cells[update], ts[newest[group[update]]], newest_value[update])
            self.last_ts[numbers[newer]] = ts[newest[newer]]
        self.hot.append(sensor_of, ts, metric_ids, values)
        if self._unstarted is not None and self.hot.rows >= self._start_at_rows:
            self._unstarted.start()
            self._unstarted = None
        self.total_readings += int(ts.shape[0])
        self.readings_hash = (self.readings_hash + cells_hash(
            self.sensor_hash[sensor_of], ts, self.metric_hash[metric_ids], values)) & MASK64
        if self.hot.rows >= self.seal_rows:  # cut at a batch boundary: the same on every node
            self.seal()
        return stored

    def _cells(self, shape: Shape | None, numbers: np.ndarray, metric_ids: np.ndarray,
               has: np.ndarray) -> tuple[np.ndarray, slice | None]:
        """Cells of the pairs in `has` (metric-major), created if new, and them as a slice
        when consecutive; reused when the batch has the shape's sensors, metrics and pairs
        (cells never move: shapes.py)."""
        if (shape is not None and shape.has is not None
                and np.array_equal(shape.metric_ids, metric_ids) and np.array_equal(shape.has, has)):
            run = shape.run
            cells = shape.cells if run is None else np.arange(run.start, run.stop)
            return cells, run
        metric_row, group = np.nonzero(has)
        cells, created = self.cells.cells_of_pairs(numbers, metric_ids, metric_row, group)
        if created:
            self._count_metrics(numbers)
        self.running.add_cells(created)
        self.latest.add_cells(self.cells.count)
        run = run_of(cells)
        if shape is not None:
            shape.metric_ids, shape.has = frozen(metric_ids.copy()), frozen(has.copy())
            shape.cells, shape.run = (frozen(cells) if run is None else None), run
        return cells, run

    def most_metrics_per_sensor(self) -> int:
        """The most metric names one sensor holds (the limits' O(1) bound)."""
        if self._most_metrics is None:  # after a restore: once, O(cells)
            sensor_of = self.cells.keys >> METRIC_BITS
            self._most_metrics = int(np.unique(sensor_of, return_counts=True)[1].max(initial=0))
        return self._most_metrics

    def _count_metrics(self, numbers: np.ndarray) -> None:
        if self._most_metrics is not None:  # only the sensors given new cells can pass it
            lo, hi = self.cells.bounds(numbers)
            self._most_metrics = max(self._most_metrics, int((hi - lo).max(initial=0)))

    def seal(self) -> None:
        """The cut: the pending merge is swapped in if it is due (compaction.due) and the
        previous cut's part for its built segment (settle), then the hot buffer is frozen
        into a Sealing part whose build, and a newly planned merge's, run off the apply
        path."""
        hot = self.hot.view()
        if hot.ts.shape[0]:
            self._swap_merge()
            self.settle()
            lag = int(getattr(self.builder, "lag_rows", 0))
            part = Sealing.freeze(len(self._segments), hot, self.builder, start=False)
            self._segments.append(part)
            pending = self._merge
            self._merge = self._plan(pending)
            if self._merge is not None and self._merge is not pending:
                part.then(self._merge.start)  # the node's stagger holds both builds back
            if lag > 0:
                self._unstarted, self._start_at_rows = part, lag
            else:
                part.start()
                self._unstarted, self._start_at_rows = None, 0
            self.hot.clear()

    def _swap_merge(self) -> None:
        """The planned merge's segment in place of its inputs once it is due: the plan
        checked against the list as it is now (the same on every node: a log position),
        built here if it no longer matches or never ran."""
        merge = self._plan(self._merge)
        self._merge = merge
        if merge is not None and compaction.due(len(self._segments), merge.at):
            self._merge = None
            self.merges_waited += not merge.done()
            self._segments = compaction.swapped(self._segments, merge.at, merge.merged())

    def settle(self) -> None:
        """Every Sealing part replaced by its built segment (waiting for the build if it is
        not done). Invisible to reads, digest and snapshots: called at the cut (a log
        position), and by anything that needs the segments' frames. Merges are not swapped
        here: only at a cut."""
        self._unstarted = None  # built below if it is still held back
        for i, part in enumerate(self._segments):
            if isinstance(part, Sealing):
                self.swaps_waited += not part.done()
                self._segments[i] = part.segment()

    def _unstored(self, sensor_of: np.ndarray, ts: np.ndarray) -> np.ndarray | None:
        """Keep-mask of readings not stored yet (None: all). In-order readings need no
        lookup; only late ones are searched for (dedup.py)."""
        late = np.flatnonzero(ts <= self.last_ts[sensor_of])
        if not late.shape[0]:
            return None
        found = already_stored(sensor_of[late], ts[late], self.hot.view(), self.segments)
        if not found.any():
            return None
        keep = np.ones(ts.shape[0], dtype=bool)
        keep[late[found]] = False
        return keep

    def _sensor_numbers(self, sensor_ids: list[str]) -> tuple[np.ndarray, Shape | None]:
        shape = self._shapes.get(sensor_ids)
        if shape is not None:
            return shape.numbers, shape
        numbers, fresh = self.sensors.numbers(sensor_ids, distinct=True)  # decode checks it
        if fresh:  # grown 1.5x, filled in place past the known sensors (no O(S) copy a batch)
            total = len(self.sensors)
            old = total - len(fresh)
            self._last_ts = room(self._last_ts, old, total)
            self._location = room(self._location, old, total)
            self._sensor_hash = room(self._sensor_hash, old, total)
            self._last_ts[old:total] = NO_TS
            self._location[old:total] = Numbering.NONE_NUMBER
            self._sensor_hash[old:total] = text_hashes(fresh)
        # Kept when the list came before, or is all new sensors (a new gateway's first
        # batch); a list mixing new and known ones (readings drawn from many sensors) is
        # not: it rarely comes again, and a shape's copies would cost it every batch.
        if not self._shapes.recurs(sensor_ids) and len(fresh) < len(sensor_ids):
            return numbers, None
        names = self.sensors.names
        return numbers, self._shapes.put(list(map(names.__getitem__, numbers.tolist())), numbers)

    def _metric_ids(self, names: list[str]) -> np.ndarray:
        ids, fresh = self.metrics.numbers(names)
        if fresh:
            self.metric_hash = np.concatenate((self.metric_hash, text_hashes(fresh)))
        return ids

    def _located_as_held(self, numbers: np.ndarray, locations: list[str | None]) -> bool:
        """Whether every sensor is located and `locations` names where: one C-level list
        comparison (string equality, no hashing) instead of a numbering lookup per name."""
        held = self.location[numbers]
        if not held.shape[0] or int(held.min()) < 0:
            return False
        return locations == list(map(self.locations.names.__getitem__, held.tolist()))

    def _set_locations(self, numbers: np.ndarray, locations: list[str | None],
                       shape: Shape | None) -> tuple[np.ndarray, np.ndarray]:
        # Every given location numbered in list order (a new name first appears where it
        # would among the changed ones); None (-2) keeps a sensor's location. Numbers are
        # reused while a shape's sensors keep sending the same locations.
        if shape is not None and shape.given is not None and shape.locations == locations:
            given = shape.given
        elif shape is None and self._located_as_held(numbers, locations):
            # Each sensor given where it is: no move, and no name numbered (a new one would
            # differ), so no lookup per name (a feed whose sensor lists never repeat).
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        else:
            given, _ = self.locations.numbers(locations)
            if shape is not None:  # the numbering's strings (see Shapes.put), None for None
                names = [*self.locations.names, None]
                shape.locations = list(map(names.__getitem__, np.where(given >= 0, given, -1).tolist()))
                shape.given = frozen(given)
        held = self.location[numbers]
        moving = (given >= 0) & (given != held)  # named otherwise than held: a move
        moved = numbers[moving]
        before = held[moving]
        self.location[moved] = given[moving]
        return moved, before

    def view(self) -> EngineView:
        return EngineView(tuple(self.segments), self.hot.view(), self.cells.keys,
                          tuple(self.metrics.names))

    def nbytes(self) -> int:
        """Bytes held in arrays and frames (what a reading costs, without Python overhead)."""
        per_sensor = sum(a.nbytes for a in (self.last_ts, self.location, self.sensor_hash))
        return (per_sensor + self.latest.nbytes() + self.hot.nbytes() + self.running.data.nbytes
                + self.cells.nbytes()
                + sum(s.nbytes() for s in self.segments))
