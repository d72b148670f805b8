"""The cold tier's replicated half (issue 16 part 2): the manifest of the Parquet files the
leader wrote, per sensor the cutoff below which its readings live there, and the apply of
a `cold` entry. Plain values only: reading and writing the files is node/coldtier's job.

    body = {"seq": n, "term": t, "files": [ColdFile wire entry, ...], "cutoffs": {sensor: us},
            "rows": {sensor: readings it moves}}

Apply moves nothing unless the entry is exactly the next one (`seq`: a deposed leader's
retry, or one that lost a race, is refused and changes nothing), it commits in the term of
the leader that wrote its files (`term`: an entry a deposed leader's PySyncObj forwarded to
the next leader is refused, since that leader may have swept its files as orphans) and,
per sensor, the rows
in memory older than its cutoff are exactly the rows the files hold (a late reading that
arrived after the leader read them refuses the entry: the leader writes again). Then it
records the files and drops those rows from memory, so nothing is lost or held twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lithair_node.machine.engine import retention
from lithair_node.machine.engine.engine import Engine

ENTRY_VERSION = 1  # node/coldtier/manifest.py's ColdFile.to_wire
ENTRY_LEN = 10
_INT_FIELDS = (3, 4, 5, 6, 9)  # min_ts, max_ts, rows, sensors, bytes
ROWS_FIELD = 5


@dataclass
class ColdState:
    # Replaced on apply, never mutated in place: readers take them under the lock, use after.
    files: tuple[tuple[Any, ...], ...] = ()  # manifest entries in wire form, commit order
    tiered_until: dict[str, int] = field(default_factory=dict)  # sensor id -> cutoff us
    readings: int = 0  # readings moved to the cold tier, ever
    next_seq: int = 0  # the seq the next cold entry must carry

    def empty(self) -> bool:
        return not self.files and not self.tiered_until and not self.next_seq

    def wire(self) -> list[Any]:
        return [[list(f) for f in self.files], sorted(self.tiered_until.items()),
                self.readings, self.next_seq]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> ColdState:
        files, until, readings, seq = raw
        return cls(tuple(_entry(f) for f in files), {str(s): int(c) for s, c in until},
                   int(readings), int(seq))


def apply(engine: Engine, cold: ColdState, body: Any, term: int) -> tuple[int, str | None]:
    """(readings dropped from memory, error) of an entry of `term`. Never raises; an error
    changes nothing."""
    problem = _shape_error(body)
    if problem:
        return 0, problem
    if body["term"] != term:
        return 0, f"cold entry of the leader of term {body['term']} committed in term {term}"
    if body["seq"] != cold.next_seq:
        return 0, f"stale cold entry: seq {body['seq']}, expected {cold.next_seq}"
    cutoffs, rows = body["cutoffs"], body["rows"]
    numbers = engine.sensors.lookup(sorted(cutoffs))
    if (numbers < 0).any():
        return 0, "cold entry names an unknown sensor"
    cut = np.full(engine.last_ts.shape[0], retention.KEEP_ALL, dtype=np.int64)
    cut[numbers] = [cutoffs[s] for s in sorted(cutoffs)]
    held = retention.count_older(engine, cut)[numbers]
    if held.tolist() != [rows[s] for s in sorted(cutoffs)]:
        return 0, "cold entry does not match the readings held (new ones arrived): retry"
    files = tuple(_entry(f) for f in body["files"])
    if sum(f[ROWS_FIELD] for f in files) != sum(rows.values()):
        return 0, "cold entry: the files' rows differ from the readings it moves"
    dropped = retention.drop_older(engine, cut, rewrite_fraction=0.0)
    cold.files = cold.files + files
    cold.tiered_until = {**cold.tiered_until,
                         **{s: max(c, cold.tiered_until.get(s, c)) for s, c in cutoffs.items()}}
    cold.readings += dropped
    cold.next_seq += 1
    return dropped, None


def _shape_error(body: Any) -> str | None:
    if not (isinstance(body, dict) and set(body) == {"seq", "term", "files", "cutoffs", "rows"}):
        return 'cold entry must be {"seq", "term", "files", "cutoffs", "rows"}'
    if type(body["seq"]) is not int or type(body["term"]) is not int \
            or not isinstance(body["files"], list):
        return "cold entry: seq and term must be integers, files a list"
    cutoffs, rows = body["cutoffs"], body["rows"]
    if not (isinstance(cutoffs, dict) and isinstance(rows, dict) and set(cutoffs) == set(rows)
            and cutoffs and all(isinstance(s, str) for s in cutoffs)
            and all(type(v) is int and -(1 << 63) < v < 1 << 63 for v in cutoffs.values())
            and all(type(v) is int and v >= 0 for v in rows.values())):
        return "cold entry: cutoffs and rows must map the same sensor ids to integers"
    if not all(_entry_ok(f) for f in body["files"]):
        return "cold entry: malformed file entry"
    return None


def _entry_ok(item: Any) -> bool:
    return (isinstance(item, list | tuple) and len(item) == ENTRY_LEN and item[0] == ENTRY_VERSION
            and isinstance(item[1], str) and isinstance(item[2], str)
            and all(type(item[i]) is int for i in _INT_FIELDS)
            and isinstance(item[7], list | tuple) and all(isinstance(m, str) for m in item[7])
            and isinstance(item[8], bytes) and len(item[8]) == 32)


def _entry(item: Any) -> tuple[Any, ...]:
    return (*item[:7], tuple(item[7]), *item[8:])
