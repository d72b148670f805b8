"""Vectorised helpers over runs of rows and (sensor, timestamp) pairs."""

from __future__ import annotations

import numpy as np


def ranges_to_indices(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The indices start_0..end_0-1, start_1..end_1-1, ... in one array, no Python loop."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def pairs_in(sensors: np.ndarray, ts: np.ndarray, known_sensors: np.ndarray,
             known_ts: np.ndarray) -> np.ndarray:
    """Which (sensors[i], ts[i]) occur among the known pairs (each set free of repeats)."""
    k = sensors.shape[0]
    if k and known_sensors.shape[0]:
        # Only known pairs inside the asked timestamps' span can match: a late batch spans
        # a few ticks, the hot buffer or a segment's rows of its sensors many. One linear
        # pass, then the sort below runs over what is left instead of everything.
        inside = (known_ts >= ts.min()) & (known_ts <= ts.max())
        if not inside.all():
            known_sensors, known_ts = known_sensors[inside], known_ts[inside]
    if not known_sensors.shape[0]:
        return np.zeros(k, dtype=bool)
    all_sensors = np.concatenate((known_sensors, sensors))
    all_ts = np.concatenate((known_ts, ts))
    order = np.lexsort((all_ts, all_sensors))
    s, t = all_sensors[order], all_ts[order]
    repeated = np.zeros(order.shape[0], dtype=bool)
    repeated[1:] = (s[1:] == s[:-1]) & (t[1:] == t[:-1])  # the second of an equal pair
    found = np.zeros(k, dtype=bool)
    hits = order[repeated] - known_sensors.shape[0]
    found[hits[hits >= 0]] = True
    return found


def in_sorted_runs(values: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                   wanted: np.ndarray) -> np.ndarray:
    """Whether wanted[i] occurs in values[lo[i]:hi[i]], each such run ascending: one binary
    search per asked value, all of them in step (~log2 of the longest run numpy passes over
    the asked values, none over the runs)."""
    end = hi.astype(np.int64)
    lo, hi = lo.astype(np.int64), end.copy()
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi) >> 1
        right = active & (values[np.where(active, mid, 0)] < wanted)
        lo = np.where(right, mid + 1, lo)
        hi = np.where(active & ~right, mid, hi)
    # lo: the first index of its run holding a value >= wanted (end if none)
    inside = lo < end
    found = np.zeros(wanted.shape[0], dtype=bool)
    found[inside] = values[lo[inside]] == wanted[inside]
    return found
