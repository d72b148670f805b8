"""Stable integer numbers for names (sensor ids, metric names, locations), assigned in apply
order, so every node gives the same name the same number."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat

import numpy as np

UNKNOWN = -1


class Numbering:
    """name -> number, numbers 0, 1, 2, ... in first-seen order. `None` (an absent location)
    maps to NONE_NUMBER and is never numbered."""

    NONE_NUMBER = -2

    def __init__(self, names: Sequence[str] = ()) -> None:
        self._number: dict[str | None, int] = {None: self.NONE_NUMBER}
        self.names: list[str] = []
        self.add(names)

    def __len__(self) -> int:
        return len(self.names)

    def get(self, name: str) -> int:
        return self._number.get(name, UNKNOWN)

    def lookup(self, names: Sequence[str | None]) -> np.ndarray:
        """Numbers of `names` (UNKNOWN for names never seen): one C-level pass, no Python
        bytecode per name."""
        return np.fromiter(map(self._number.get, names, repeat(UNKNOWN)), np.int64, len(names))

    def numbers(self, names: Sequence[str | None],
                distinct: bool = False) -> tuple[np.ndarray, list[str]]:
        """Numbers of `names`, numbering the new ones in the order given; also returns the
        new names (the only ones that cost Python work). `distinct`: no name repeats (a
        batch's sensors), so the new ones are numbered in one step, not looked up again."""
        found = self.lookup(names)
        missing = np.flatnonzero(found == UNKNOWN)
        if not missing.shape[0]:
            return found, []
        if distinct:
            first = len(self.names)
            # All new (a feed adding sensors): the list itself, no lookup per name.
            new = (list(names) if missing.shape[0] == len(names)
                   else [names[i] for i in missing.tolist()])
            self.add(new)  # type: ignore[arg-type]
            found[missing] = np.arange(first, first + len(new))
            return found, new  # type: ignore[return-value]
        fresh = list(dict.fromkeys(names[i] for i in missing.tolist()))
        self.add(fresh)
        found[missing] = self.lookup([names[i] for i in missing.tolist()])
        return found, fresh  # type: ignore[return-value]

    def add(self, names: Sequence[str]) -> None:
        first = len(self.names)
        self._number.update(zip(names, range(first, first + len(names)), strict=True))
        self.names.extend(names)
