"""Reads that reach into the cold tier: a sensor's range older than its tiered cutoff comes
from the Parquet files the committed manifest lists (node/coldtier/reader.py), merged by
timestamp before the engine's readings, so pages and exports see one series.

The manifest is read after the engine view: a tiering entry applied in between leaves the
view holding readings the files hold too, so a reading the view has wins and the cold
copy is skipped ((sensor, ts) is unique). One node per process: the node installs its tier
at start (node/coldtier/mover.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lithair_node import api
from lithair_node.machine.engine import reads
from lithair_node.machine.engine.sensor_view import SensorView
from lithair_node.machine.state import StateMachine
from lithair_node.node.coldtier.manifest import US_PER_DAY, ColdFile
from lithair_node.node.coldtier.store import ColdStore

if TYPE_CHECKING:  # the reader is pyarrow: loaded once a tier is read, not by every node
    from lithair_node.node.coldtier.reader import ColdReader

Chunk = tuple[np.ndarray, np.ndarray]  # ts (ascending), values (metrics x k)


@dataclass
class _Tier:
    store: ColdStore
    state: StateMachine
    files: tuple[Any, ...] = ()  # the wire entries `reader` was built from
    reader: ColdReader | None = None

    def reader_for(self, files: tuple[Any, ...]) -> ColdReader:
        from lithair_node.node.coldtier.reader import ColdReader

        if self.reader is None or files is not self.files:  # new entries: rebuild once
            self.files, self.reader = files, ColdReader(self.store, map(ColdFile.from_wire, files))
        return self.reader


_tier: list[_Tier] = []


def install(store: ColdStore, state: StateMachine) -> None:
    _tier[:] = [_Tier(store, state)]


def uninstall(state: StateMachine) -> None:
    if _tier and _tier[0].state is state:
        _tier.clear()


@dataclass(frozen=True)
class ColdPlan:
    reader: ColdReader
    files: list[ColdFile]  # those overlapping [start, end)
    start: int
    end: int


def plan(view: SensorView, start: int, end: int) -> ColdPlan | None:
    """What the cold tier holds of the sensor in [start, end); None: nothing to read."""
    if not _tier:
        return None
    tier = _tier[0]
    manifest = tier.state.cold_manifest()
    until = manifest.tiered_until.get(view.sensor_id)
    if until is None or start >= until:
        return None
    reader = tier.reader_for(manifest.files)
    end = min(end, until)
    files = reader.files_between(start, end)
    return ColdPlan(reader, files, start, end) if files else None


def answer_fields(view: SensorView, start: int, end: int) -> dict[str, Any]:
    """{"cold": true, "cold_files": n} when the range reaches into the cold tier, else {}."""
    found = plan(view, start, end)
    return {} if found is None else {"cold": True, "cold_files": len(found.files)}


def export_headers(views: Iterable[SensorView], start: int, end: int) -> dict[str, str]:
    """An export's mark that some of it came from the cold tier (its body is a file)."""
    return {api.COLD_HEADER: "true"} if any(plan(v, start, end) for v in views) else {}


def with_cold(view: SensorView, start: int, end: int, hot: Iterable[Chunk]) -> Iterator[Chunk]:
    """The engine's chunks `hot` with the cold tier's readings of [start, end) merged in."""
    found = plan(view, start, end)
    if found is None:
        yield from hot
        return
    yield from _merge(_cold_chunks(view, found), hot)


def cold_parts(view: SensorView, start: int, end: int) -> Iterator[Chunk]:
    """The cold readings of [start, end) for order-free reductions (range stats, buckets,
    counts), minus any the view holds itself (it predates the entry that dropped them)."""
    found = plan(view, start, end)
    if found is None:
        return
    held = [ts for ts, _ in reads.parts(view.engine, view.sensor, view.metric_array()[:0],
                                         found.start, found.end)]
    held_ts = np.concatenate(held) if held else np.empty(0, np.int64)
    for ts, values in _cold_chunks(view, found):
        keep = ~np.isin(ts, held_ts)
        yield ts[keep], values[:, keep]


def _cold_chunks(view: SensorView, found: ColdPlan) -> Iterator[Chunk]:
    """One chunk per UTC day (files are per day, so days come out in order)."""
    names = [view.engine.metric_names[m] for m in view.metric_ids]
    for day in sorted({f.min_ts // US_PER_DAY for f in found.files}):
        lo, hi = max(found.start, day * US_PER_DAY), min(found.end, (day + 1) * US_PER_DAY)
        if lo < hi:
            part = found.reader.readings(view.sensor_id, lo, hi, names)
            if part.rows:
                yield part.ts, part.values


def _merge(cold: Iterator[Chunk], hot: Iterable[Chunk]) -> Iterator[Chunk]:
    """Two ascending streams as one; a ts in both keeps the engine's reading."""
    held_ts, held_values = np.empty(0, np.int64), None
    cold_left = True
    for ts, values in hot:
        while cold_left and (not held_ts.shape[0] or held_ts[-1] <= ts[-1]):
            nxt = next(cold, None)
            if nxt is None:
                cold_left = False
                break
            held_ts = np.concatenate((held_ts, nxt[0]))
            held_values = nxt[1] if held_values is None else np.concatenate((held_values, nxt[1]), axis=1)
        cut = int(np.searchsorted(held_ts, ts[-1], "right"))
        if cut and held_values is not None:
            mine_ts, mine = held_ts[:cut], held_values[:, :cut]
            held_ts, held_values = held_ts[cut:], held_values[:, cut:]
            keep = ~np.isin(mine_ts, ts)
            all_ts = np.concatenate((mine_ts[keep], ts))
            order = np.argsort(all_ts, kind="stable")
            yield all_ts[order], np.concatenate((mine[:, keep], values), axis=1)[:, order]
        else:
            yield ts, values
    if held_ts.shape[0] and held_values is not None:
        yield held_ts, held_values
    yield from cold
