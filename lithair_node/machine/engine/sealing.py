"""Sealing off the apply path: the hot buffer frozen at a cut, read as the segment it becomes.

At a cut (Engine.seal: seal_rows rows, at a batch boundary) apply only freezes the hot
buffer's columns into a Sealing part and hands its build (segment.seal of those columns) to
a Builder, a worker thread by default. The Sealing part sits in Engine.segments where the
segment will be and answers every read of the Segment interface (span, ts_between,
values_between, rows_at, the per-sensor index) from the frozen columns, exactly as the
built segment would: the same rows in the same (sensor, ts) order, the same float64 values
(the codecs are lossless). Its sorted index is computed once, by whoever needs it first (the
builder, a reader, or dedup in apply).

The built segment replaces the part at the next cut (Engine.settle): a log position, so the
same on every node; if the build is not done then, apply waits for it there. Which object
holds a row between the two cuts may differ from node to node; no answer, digest or
snapshot byte does (encode() of a Sealing part is encode() of the segment it becomes). A
build that failed is done again synchronously where its result is needed (the same pure
function of the same columns: the same segment).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.hot import HotView
from lithair_node.machine.engine.ranges import ranges_to_indices
from lithair_node.machine.engine.segment import Segment
from lithair_node.machine.engine.whole_ts import all_ts

log = logging.getLogger(__name__)


class Job(Protocol):
    def done(self) -> bool: ...

    def result(self) -> Segment: ...  # blocks until built; raises if the build failed


class Builder(Protocol):
    def submit(self, build: Callable[[], Segment]) -> Job: ...


class ThreadBuilder:
    """One daemon worker thread running builds in submission order (started lazily)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future[Segment], Callable[[], Segment]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Rows applied after a cut before its build starts. Every node cuts at the same log
        # position, so the nodes of one box built at the same moment and the leader's acks
        # waited for them (p99 ~120 ms at 60K readings/s); a node sets its own by rank
        # (node/server.py). Counted in rows, not seconds: the stagger scales with the rate
        # and stays within a seal interval, and it changes only when a build runs.
        self.lag_rows = 0
        # The worker's scheduling niceness (Linux: per thread), set by the node before its
        # first build (node/server.py): builds can wait for a request or an apply, which
        # share the box's cores with them. 0: unchanged.
        self.nice = 0

    def submit(self, build: Callable[[], Segment]) -> Job:
        future: Future[Segment] = Future()
        self._jobs.put((future, build))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="segment-builder", daemon=True)
                self._thread.start()
        return future

    def _run(self) -> None:
        if self.nice:
            with contextlib.suppress(OSError, AttributeError):  # not Linux: as it is
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
        while True:
            future, build = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(build())
            except BaseException as exc:  # the swap point builds it again
                future.set_exception(exc)
            del future, build  # the closure holds the frozen columns: not until the next job


DEFAULT_BUILDER = ThreadBuilder()  # one worker for the process (every engine shares it)
# Merges (merging.py) on a second worker: one takes several seal intervals, and a cut's
# build queued behind it would make the next cut wait.
DEFAULT_MERGE_BUILDER = ThreadBuilder()


@dataclass(frozen=True)
class _Index:
    """The frozen rows in (sensor, ts) order, as the built segment's index holds them."""

    order: np.ndarray  # sorted position -> frozen row
    ts: np.ndarray  # per sorted position
    sensors: np.ndarray
    starts: np.ndarray
    min_ts: np.ndarray
    max_ts: np.ndarray
    triples: np.ndarray  # frozen row r has triples [triples[r], triples[r + 1])
    metrics: np.ndarray  # metric ids present, ascending


def _index_of(hot: HotView) -> _Index:
    n = hot.ts.shape[0]
    order = segments.by_sensor_then_ts(hot.sensor, hot.ts)
    sensor, ts = hot.sensor[order].astype(np.int64), hot.ts[order]
    firsts = np.flatnonzero(np.diff(sensor, prepend=-1))
    starts = np.append(firsts, n).astype(np.int64)
    triples = np.concatenate(([0], np.cumsum(np.bincount(hot.row, minlength=n)))).astype(np.int64)
    metrics = np.flatnonzero(np.bincount(hot.metric)) if hot.metric.shape[0] else np.empty(0, np.int64)
    found = _Index(order, ts, sensor[firsts], starts, ts[firsts], ts[starts[1:] - 1], triples,
                   metrics.astype(np.int64))
    for array in vars(found).values():
        array.flags.writeable = False
    return found


class _Frozen:
    """What every numbering of one Sealing part shares: the columns, the build, the index.
    Once built, reads go to the built segment and the frozen columns are let go (readers
    still using them hold their own references)."""

    def __init__(self, number: int, hot: HotView, builder: Builder, start: bool) -> None:
        self.rows = int(hot.ts.shape[0])
        self.triples = int(hot.value.shape[0])
        self._hot: HotView | None = hot
        self._lock = threading.Lock()  # the index
        self._build_lock = threading.Lock()  # the swap and a snapshot writer may both ask
        self._index: _Index | None = None
        self._built: Segment | None = None  # set before _hot is let go
        self.job: Job | None = None
        self._number, self._builder = number, builder
        self._after: Callable[[], None] | None = None  # started with it (the cut's merge)
        if start:
            self.start()

    def start(self) -> None:
        """Hand the build to the builder (once; a part never started is built at the swap).
        Only the job's closure holds the frozen columns besides _hot: once built, nothing
        does (a part outlives its build where a snapshot's segment refs still name it)."""
        hot, number = self._hot, self._number
        after, self._after = self._after, None  # taken first: the build may finish at once
        if self.job is None and self._built is None and hot is not None:
            try:
                self.job = self._builder.submit(lambda: self._finish(self._build(number, hot)))
            except Exception:  # no builder: built where it is needed
                log.exception("segment build could not be submitted; it is built at the swap")
        if after is not None:
            after()

    def source(self) -> Segment | tuple[_Index, HotView]:
        """The built segment, or the frozen columns and their index (one consistent pair)."""
        hot = self._hot
        if hot is None or self._built is not None:
            built = self._built
            assert built is not None
            return built
        found = self._index
        if found is None:
            with self._lock:
                if self._index is None:
                    self._index = _index_of(hot)
                found = self._index
        return found, hot

    def _build(self, number: int, hot: HotView) -> Segment:
        """segment.seal of the frozen columns (the builder's job, and the fallback)."""
        source = self.source()
        order = None if isinstance(source, Segment) else source[0].order
        return segments.seal(number, hot.sensor, hot.ts, hot.row, hot.metric, hot.value, order)

    def _finish(self, built: Segment) -> Segment:
        self._built = built
        self._hot = self._index = None
        self._after = None  # never started: a part a snapshot keeps must not keep a merge
        return built

    def done(self) -> bool:
        return self._built is not None

    def segment(self, number: int) -> Segment:
        with self._build_lock:
            if self._built is None:
                hot = self._hot
                found: Segment | None = None
                if self.job is not None:
                    try:
                        found = self.job.result()
                    except Exception:  # apply never raises: build it here
                        log.exception("segment build failed; building it synchronously")
                if found is None:
                    assert hot is not None
                    found = self._build(number, hot)
                self._finish(found)
            built = self._built
            assert built is not None
        return built if built.number == number else replace(built, number=number)


class Sealing:
    """A frozen hot buffer in Engine.segments, read as the segment it becomes (immutable:
    renumbering gives a new part sharing the same columns and build)."""

    def __init__(self, number: int, frozen: _Frozen) -> None:
        self.number = number
        self._frozen = frozen
        self.rows = frozen.rows

    @classmethod
    def freeze(cls, number: int, hot: HotView, builder: Builder, start: bool = True) -> Sealing:
        """`start` False: the build is handed over later, by start()."""
        return cls(number, _Frozen(number, hot, builder, start))

    def start(self) -> None:
        self._frozen.start()

    def then(self, after: Callable[[], None]) -> None:
        """Run `after` when this part's build is handed over (once; dropped once built)."""
        self._frozen._after = after

    def renumbered(self, number: int) -> Sealing:
        return self if number == self.number else Sealing(number, self._frozen)

    def done(self) -> bool:
        return self._frozen.done()

    def segment(self) -> Segment:
        """The built segment (waits for the build; builds it here if the build failed)."""
        return self._frozen.segment(self.number)

    # -- the Segment interface: the built segment's answers, or the same from the columns --

    def _index(self) -> _Index | Segment:
        source = self._frozen.source()
        return source if isinstance(source, Segment) else source[0]

    @property
    def sensors(self) -> np.ndarray:
        return self._index().sensors

    @property
    def starts(self) -> np.ndarray:
        return self._index().starts

    @property
    def min_ts(self) -> np.ndarray:
        return self._index().min_ts

    @property
    def max_ts(self) -> np.ndarray:
        return self._index().max_ts

    @property
    def regular(self) -> np.ndarray | None:
        """The built segment's regular-run bits (regular_runs.py), None until it is built.
        A part stays in the list until the next cut, and the newest data, which late
        readings most often reach, lies in it."""
        source = self._frozen.source()
        return source.regular if isinstance(source, Segment) else None

    @property
    def ts_frames(self) -> tuple[bytes, ...]:
        return self.segment().ts_frames

    @property
    def columns(self) -> dict[int, dict[int, tuple[int, bytes, bytes]]]:
        return self.segment().columns

    def span(self, sensor: int) -> tuple[int, int, int, int]:
        index = self._index()
        if isinstance(index, Segment):
            return index.span(sensor)
        i = int(np.searchsorted(index.sensors, sensor))
        if i == index.sensors.shape[0] or index.sensors[i] != sensor:
            return 0, 0, 0, -1
        return (int(index.starts[i]), int(index.starts[i + 1]), int(index.min_ts[i]),
                int(index.max_ts[i]))

    def all_ts(self) -> np.ndarray:
        """Every row's timestamp, in (sensor, ts) order (whole_ts.all_ts once built)."""
        source = self._frozen.source()
        return all_ts(source) if isinstance(source, Segment) else source[0].ts

    def ts_between(self, a: int, b: int) -> np.ndarray:
        source = self._frozen.source()
        if isinstance(source, Segment):
            return source.ts_between(a, b)
        return source[0].ts[a:b]

    def values_between(self, metric: int, a: int, b: int) -> np.ndarray:
        source = self._frozen.source()
        if isinstance(source, Segment):
            return source.values_between(metric, a, b)
        return _values(*source, metric, source[0].order[a:b])

    def rows_at(self, metric: int, rows: np.ndarray) -> np.ndarray:
        source = self._frozen.source()
        if isinstance(source, Segment):
            return segments.rows_at(source, metric, rows)
        index = source[0]
        if metric < 0:
            return index.ts[rows]
        return _values(*source, metric, index.order[rows])

    def metric_ids(self) -> np.ndarray:
        index = self._index()
        return index.metric_ids() if isinstance(index, Segment) else index.metrics

    def nbytes(self) -> int:
        source = self._frozen.source()
        if isinstance(source, Segment):
            return source.nbytes()
        return self.rows * 12 + self._frozen.triples * 16


def _values(index: _Index, hot: HotView, metric: int, frozen_rows: np.ndarray) -> np.ndarray:
    """The metric's values of frozen rows, NaN where absent (their triples, one pass)."""
    out = np.full(frozen_rows.shape[0], np.nan)
    lo, hi = index.triples[frozen_rows], index.triples[frozen_rows + 1]
    picked = ranges_to_indices(lo, hi)
    if picked.shape[0]:
        position = np.repeat(np.arange(frozen_rows.shape[0]), hi - lo)
        mine = hot.metric[picked] == metric
        out[position[mine]] = hot.value[picked[mine]]
    return out


Part = Segment | Sealing


def renumbered(part: Part, number: int) -> Part:
    if isinstance(part, Sealing):
        return part.renumbered(number)
    return part if part.number == number else replace(part, number=number)


def built(part: Part) -> Segment:
    return part.segment() if isinstance(part, Sealing) else part
