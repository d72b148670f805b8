"""Timestamps of one entry's way through the journal and the Raft gates, for profiling only.

Off unless LITHAIR_JOURNAL_TRACE names a directory: then every 16th log index is traced and
each process appends `pid event index monotonic_ns` lines to <dir>/<pid>.trace. CLOCK_MONOTONIC
is shared by the processes of one host, so a leader's and a follower's lines line up. Events:
add (Raft thread appended it), picked/written/synced (writer thread), hold/ack (follower's
acknowledgement held, then sent), durable_seen (the Raft thread learnt the durable index moved),
commit (leader's commit index passed it).
"""

from __future__ import annotations

import os
import threading
import time

_EVERY = 16
_directory = os.environ.get("LITHAIR_JOURNAL_TRACE") or None
_lock = threading.Lock()
_lines: list[str] = []
ENABLED = _directory is not None


def mark(event: str, index: int, *, always: bool = False) -> None:
    """Record `event` for `index` if it is traced (`always`: an event that covers every index
    up to this one, e.g. an ack). Callers check ENABLED first, which is free."""
    if _directory is None or (index % _EVERY and not always):
        return
    line = f"{os.getpid()} {event} {index} {time.monotonic_ns()}\n"
    with _lock:
        _lines.append(line)
        if len(_lines) < 64:
            return
        batch = "".join(_lines)
        _lines.clear()
    with open(os.path.join(_directory, f"{os.getpid()}.trace"), "a") as out:
        out.write(batch)

