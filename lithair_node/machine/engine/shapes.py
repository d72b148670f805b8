"""Batch shapes seen before: a gateway sends the same sensors (and locations, and metrics)
batch after batch, so what apply derives from them alone is kept and reused.

Everything kept is a pure function of the names and of numberings that only ever grow
(numbering.py, cells.py: a name's number and a key's cell never change within an engine),
so a reused value is the one apply would compute again: answers and digest cannot depend
on whether the cache hit. A hit costs a list comparison (~10 ns a name) instead of a dict
lookup per name and the cell search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Shapes kept: each holds ~30 bytes a sensor (the numbering's own strings, not the entry's;
# cells only when they are not one run): ~4 MB at most for 1,000-sensor batches. A node
# serving more gateways than this just misses more often.
_KEPT = 128
# Sensor lists seen once: a list is kept only when it comes again, so a feed whose lists
# never repeat (readings from many clients, packed by group commit) pays no copies for it.
_SEEN = 4 * _KEPT


@dataclass
class Shape:
    sensors: list[str]
    numbers: np.ndarray  # sensor numbers of `sensors` (read-only)
    locations: list[str | None] | None = None
    given: np.ndarray | None = None  # location numbers of `locations` (-2: None)
    # Cells of the batch's (metric, group) pairs for one set of metric ids and one pattern
    # of pairs with a value: what _store derives by searching the cell index.
    metric_ids: np.ndarray | None = None
    has: np.ndarray | None = None
    cells: np.ndarray | None = None  # None when `run` gives them
    run: slice | None = None  # the cells as a slice when they are consecutive and ascending


def frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False  # shared between batches: a write would corrupt a later one
    return array


def run_of(cells: np.ndarray) -> slice | None:
    """slice(a, a + n) when cells are a, a + 1, ..., a + n - 1 (they index as a view)."""
    n = cells.shape[0]
    if not n or int(cells[-1]) - int(cells[0]) != n - 1:
        return None
    if n > 1 and not (cells[1:] - cells[:-1] == 1).all():
        return None
    return slice(int(cells[0]), int(cells[0]) + n)


def _key(sensors: list[str]) -> tuple[int, str, str, str]:
    return len(sensors), sensors[0], sensors[len(sensors) // 2], sensors[-1]


class Shapes:
    def __init__(self) -> None:
        self._kept: dict[tuple[int, str, str, str], Shape] = {}
        self._seen: dict[tuple[int, str, str, str], None] = {}

    def get(self, sensors: list[str]) -> Shape | None:
        if not sensors:
            return None
        shape = self._kept.get(_key(sensors))
        return shape if shape is not None and shape.sensors == sensors else None

    def recurs(self, sensors: list[str]) -> bool:
        """Whether a list like `sensors` (same length, first, middle and last) came before
        (recording it if not): only then is it worth keeping its shape."""
        if not sensors:
            return False
        key = _key(sensors)
        if key in self._seen:
            return True
        if len(self._seen) >= _SEEN:
            self._seen.pop(next(iter(self._seen)))  # the oldest seen
        self._seen[key] = None
        return False

    def put(self, sensors: list[str], numbers: np.ndarray) -> Shape | None:
        """`sensors`: equal to the batch's, made of the numbering's strings (the entry's
        own would stay alive with the shape)."""
        if not sensors:
            return None
        if len(self._kept) >= _KEPT:
            self._kept.pop(next(iter(self._kept)))  # the oldest kept
        shape = self._kept[_key(sensors)] = Shape(
            sensors, frozen(numbers.copy()))
        return shape
