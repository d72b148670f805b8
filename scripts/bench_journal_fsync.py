#!/usr/bin/env python3
"""Appends/s of the durable journal in fsync vs none mode, at a few append batch sizes.

Each entry is ~50 KB (about one 1,000-reading batch). One thread plays the Raft thread: it
appends `batch` entries (what one tick appends), then either waits until they are durable
before the next tick ("wait": a lone client) or keeps up to 16 ticks in flight ("pipelined":
group commit folds them into fewer fdatasyncs). The journal is compacted as it grows, as
snapshots would. The journal lives on the repository's filesystem (not a tmpfs).

Prints a table and writes JSON to bench/results/journal-fsync-<time>.json.

    .venv/bin/python scripts/bench_journal_fsync.py --seconds 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_common import machine_info, utc_now, write_results

from lithair_node.node.raft.journal import Durability, DurableJournal

REPO = Path(__file__).resolve().parents[1]
ENTRY_BYTES = 50_000
IN_FLIGHT_TICKS = 16
KEEP_ENTRIES = 1_000  # ~50 MB retained, like a journal between snapshots
COMPACT_ABOVE = 2_000


def upper_quantile_s(histogram: dict[str, Any], quantile: float) -> float | None:
    """The bucket bound below which `quantile` of the observations fall."""
    if not histogram["count"]:
        return None
    for bound, cumulative in histogram["buckets"].items():
        if cumulative >= quantile * histogram["count"]:
            return float(bound)
    return None


def run(durability: Durability, batch: int, pipelined: bool, seconds: float,
        directory: Path) -> dict[str, Any]:
    journal = DurableJournal(directory, durability=durability)
    entry = os.urandom(ENTRY_BYTES)
    index, ticks = 0, []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(batch):
            index += 1
            journal.add(entry, index, 1)
        ticks.append(index)
        # A pipelined leader acknowledges tick k once it is durable, with 16 ticks in flight.
        waited = ticks.pop(0) if not pipelined or len(ticks) > IN_FLIGHT_TICKS else None
        if waited is not None:
            journal.wait_durable(waited)
        if len(journal) > COMPACT_ABOVE:
            journal.deleteEntriesTo(len(journal) - KEEP_ENTRIES)
    journal.flush()
    elapsed = time.perf_counter() - started
    status = journal.describe()
    journal.close()
    shutil.rmtree(directory)
    latency = status["fsync_latency_s"]
    return {
        "durability": str(durability), "batch": batch, "pipelined": pipelined,
        "entries": index, "seconds": round(elapsed, 3),
        "entries_per_s": round(index / elapsed), "mb_per_s": round(index * ENTRY_BYTES / elapsed / 1e6, 1),
        "write_batches": status["write_batches"], "fdatasyncs": latency["count"],
        "entries_per_write_batch": round(index / max(1, status["write_batches"]), 1),
        "fsync_p50_s": upper_quantile_s(latency, 0.5), "fsync_p99_s": upper_quantile_s(latency, 0.99),
        "fsync_mean_ms": round(latency["sum"] / latency["count"] * 1000, 2) if latency["count"] else None,
    }


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"{'mode':6} {'batch':>5} {'style':10} {'entries/s':>10} {'MB/s':>7} {'per sync':>9} "
          f"{'fsync mean':>11} {'p50<=':>7} {'p99<=':>7} {'vs none':>8}")
    none = {(r["batch"], r["pipelined"]): r["entries_per_s"] for r in results
            if r["durability"] == "none"}
    for r in results:
        style = "pipelined" if r["pipelined"] else "wait"
        ratio = r["entries_per_s"] / none[(r["batch"], r["pipelined"])]
        mean = f"{r['fsync_mean_ms']} ms" if r["fsync_mean_ms"] is not None else "-"
        print(f"{r['durability']:6} {r['batch']:>5} {style:10} {r['entries_per_s']:>10} "
              f"{r['mb_per_s']:>7} {r['entries_per_write_batch']:>9} {mean:>11} "
              f"{r['fsync_p50_s'] or '-':>7} {r['fsync_p99_s'] or '-':>7} {ratio:>7.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per configuration")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--dir", type=Path, default=REPO / "bench",
                        help="where the journals are written (a real disk, not tmpfs)")
    args = parser.parse_args()
    info = {**machine_info(), "started": utc_now()}
    results = []
    for batch in args.batches:
        for pipelined in (False, True):
            for durability in (Durability.NONE, Durability.FSYNC):
                directory = Path(tempfile.mkdtemp(prefix="journal-fsync-", dir=args.dir))
                results.append(run(durability, batch, pipelined, args.seconds, directory))
    print_table(results)
    path = write_results(REPO / "bench" / "results", "journal-fsync",
                         {"machine": info, "entry_bytes": ENTRY_BYTES,
                          "in_flight_ticks": IN_FLIGHT_TICKS, "results": results})
    print(f"\nwritten to {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
