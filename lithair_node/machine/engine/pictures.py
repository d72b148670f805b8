"""What the engine hands out: a stored batch (to the anomaly detector) and an immutable
picture for reads (EngineView)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lithair_node.machine.engine.hot import HotView
from lithair_node.machine.engine.sealing import Part


@dataclass(frozen=True)
class StoredBatch:
    """What apply stored of a batch, in the shape the anomaly detector reads (anomalies.py's
    observe): groups are the batch's sensor groups that kept at least one reading."""

    keep: np.ndarray | None  # per reading of the batch (None: all stored)
    sensors: list[str]  # of the groups
    counts: np.ndarray
    cell_of: np.ndarray  # (metrics x groups), -1 where the group has no value of the metric
    ts: np.ndarray
    values: np.ndarray
    moved: np.ndarray  # sensor numbers whose location this batch changed
    moved_from: np.ndarray  # their previous location numbers (-2: none)
    # cell_of's cells as one slice (every pair has a cell, consecutive): gathers are views
    cell_run: slice | None = None


# Called before the batch's statistics are folded in (the detector judges readings against
# the statistics that precede them): (stored batch, running count/mean/m2), the latter of
# every cell, indexed by cell_of; or, when the stored batch has cell_run, whatever columns
# cell_run picks in it (the engine may pass only the batch's cells, gathered).
Observer = Callable[[StoredBatch, np.ndarray], None]


@dataclass(frozen=True)
class EngineView:
    """An immutable picture for reads outside the lock: sealed segments, the hot buffer's
    columns, the cell index (its arrays are replaced, never written in place)."""

    segments: tuple[Part, ...]  # a Sealing part reads as the segment it becomes
    hot: HotView
    cell_keys: np.ndarray
    metric_names: tuple[str, ...]
