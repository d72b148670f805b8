"""The hot buffer's rows grouped by sensor (Prometheus' head keeps per-series chunk refs):
what turns a sensor read from a compare over the whole buffer into a binary search.

The buffer is append-only below its row count until sealing starts fresh arrays, so an index
of rows [a, b) stays true for every later view of the same buffer. Readers build it lazily,
in pieces: the rows no piece covers yet become a new piece (a stable argsort by sensor),
and the last two pieces are merged while the older is no larger than the newer (a binary
counter: O(log n) pieces, each row re-sorted O(log n) times, and a merge sorts two sorted
runs, which timsort does in one linear pass). Apply never pays for it, and it is not state:
no snapshot, no digest; every node answers the same whatever its pieces are.

Rows of one sensor come out ascending (pieces in row order, a stable sort inside each), so
every read sees exactly what the compare over the buffer gave.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from lithair_node.machine.engine.ranges import ranges_to_indices


@dataclass(frozen=True, slots=True)
class Piece:
    start: int  # rows [start, end) of the buffer
    end: int
    order: np.ndarray  # those rows, by sensor, ascending within a sensor (int64)
    keys: np.ndarray  # the sensors present, ascending
    bounds: np.ndarray  # order[bounds[i] : bounds[i + 1]] are the rows of keys[i]
    triples: np.ndarray  # row start + i has triples [triples[i], triples[i + 1]) (len + 1)


def _piece(sensor: np.ndarray, start: int, end: int, order: np.ndarray,
           triples: np.ndarray) -> Piece:
    grouped = sensor[order]
    firsts = np.flatnonzero(np.diff(grouped, prepend=grouped[:1] - 1)) if order.shape[0] else order
    bounds = np.append(firsts, order.shape[0]).astype(np.int64)
    return Piece(start, end, order, grouped[firsts], bounds, triples)


def _built(sensor: np.ndarray, triple_row: np.ndarray, start: int, end: int) -> Piece:
    order = np.argsort(sensor[start:end], kind="stable").astype(np.int64) + start
    # Triples are in row order: the rows' triples are one run, counted per row in one pass.
    first, last = np.searchsorted(triple_row, (start, end)).tolist()
    per_row = np.bincount(triple_row[first:last] - start, minlength=end - start)
    triples = np.concatenate(([first], first + np.cumsum(per_row))).astype(np.int64)
    return _piece(sensor, start, end, order, triples)


def _merged(sensor: np.ndarray, older: Piece, newer: Piece) -> Piece:
    joined = np.concatenate((older.order, newer.order))
    # Two sorted runs: timsort merges them linearly; stable keeps the older rows first.
    order = joined[np.argsort(sensor[joined], kind="stable")]
    return _piece(sensor, older.start, newer.end, order,
                  np.concatenate((older.triples[:-1], newer.triples)))


class HotIndex:
    """Shared by every view of one buffer (a new buffer, after sealing or a restore, gets a
    new index). Pieces are replaced as a whole tuple, never changed in place."""

    def __init__(self) -> None:
        self._pieces: tuple[Piece, ...] = ()
        self._lock = threading.Lock()  # readers extend it; one builds, the others reuse

    def pieces(self, sensor: np.ndarray, triple_row: np.ndarray) -> tuple[Piece, ...]:
        """Pieces covering at least the rows of `sensor` (a view's columns: rows, and the
        row of each triple); they may cover more rows than the view holds (a newer reader
        extended them): callers cut at its length."""
        rows = sensor.shape[0]
        pieces = self._pieces
        if (pieces[-1].end if pieces else 0) >= rows:
            return pieces
        with self._lock:
            pieces = self._pieces
            covered = pieces[-1].end if pieces else 0
            if covered < rows:
                found = [*pieces, _built(sensor, triple_row, covered, rows)]
                while len(found) > 1 and found[-2].order.shape[0] <= found[-1].order.shape[0]:
                    newer = found.pop()
                    found[-1] = _merged(sensor, found[-1], newer)
                pieces = self._pieces = tuple(found)
        return pieces


def rows_of(pieces: tuple[Piece, ...], rows: int, sensor: int) -> np.ndarray:
    """The sensor's rows below `rows`, ascending (arrival order)."""
    found = []
    for piece in pieces:
        if piece.start >= rows:
            break
        i = int(np.searchsorted(piece.keys, sensor))
        if i < piece.keys.shape[0] and piece.keys[i] == sensor:
            mine = piece.order[piece.bounds[i] : piece.bounds[i + 1]]
            if piece.end > rows:
                mine = mine[: int(np.searchsorted(mine, rows))]
            found.append(mine)
    if not found:
        return np.empty(0, dtype=np.int64)
    return found[0] if len(found) == 1 else np.concatenate(found)


def rows_of_many(pieces: tuple[Piece, ...], rows: int,
                 sensors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, their sensors) of several sensors (distinct) below `rows`, in one pass per
    piece: grouped by piece, then by sensor number, ascending within a sensor."""
    found_rows, found_sensors = [], []
    wanted = np.sort(sensors)
    for piece in pieces:
        if piece.start >= rows:
            break
        at = np.minimum(np.searchsorted(piece.keys, wanted), piece.keys.shape[0] - 1)
        hit = at[piece.keys[at] == wanted]
        if not hit.shape[0]:
            continue
        lengths = piece.bounds[hit + 1] - piece.bounds[hit]
        picked = piece.order[ranges_to_indices(piece.bounds[hit], piece.bounds[hit + 1])]
        of = np.repeat(piece.keys[hit], lengths)
        if piece.end > rows:
            inside = picked < rows
            picked, of = picked[inside], of[inside]
        found_rows.append(picked)
        found_sensors.append(of)
    if not found_rows:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(found_rows), np.concatenate(found_sensors).astype(np.int64)


def triple_bounds(pieces: tuple[Piece, ...], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi) of each row's triples (rows the pieces cover, in any order)."""
    if len(pieces) == 1:
        at = rows - pieces[0].start
        return pieces[0].triples[at], pieces[0].triples[at + 1]
    lo, hi = np.empty(rows.shape[0], dtype=np.int64), np.empty(rows.shape[0], dtype=np.int64)
    piece_of = np.searchsorted(np.asarray([p.end for p in pieces]), rows, side="right")
    for i in np.unique(piece_of).tolist():
        mine = piece_of == i
        at = rows[mine] - pieces[i].start
        lo[mine], hi[mine] = pieces[i].triples[at], pieces[i].triples[at + 1]
    return lo, hi
