"""The leader's cold-tier mover: readings past a rule's `tier_after` go to Parquet, then the
file list goes through the log, and only its apply drops the readings from memory.

Each round (every --lifecycle-tick seconds, on the leader only, when `tier_due()` names
sensors):
  1. a barrier entry commits: every earlier entry of this leader's log is then applied or
     can never commit, so the manifest read next is final;
  2. unlisted files are deleted: a deposed leader's writes whose entry can never commit
     (orphans), so a glob over the tier counts only committed readings;
  3. the due sensors' readings older than their cutoffs are read from an immutable engine
     view, written (names: seq * 10**6 + term, so two leaders never write the same path,
     and this leader's retry overwrites its own attempt), and verified (size, sha256);
  4. a `cold` entry proposes {seq, term, files, cutoffs, rows}; apply (machine/lifecycle/
     cold.py) drops exactly those readings, or refuses (a stale seq, another term's entry,
     readings that changed) and the next round tries again.
Why the sweep is safe: after this leader's barrier, an entry of an earlier term that is not
applied can never commit, and an entry committing later names files of its own term.
A crash anywhere before 4 commits loses nothing: the readings are still in memory.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from aiohttp import web

from lithair_node.machine.commands import encode_barrier, encode_cold
from lithair_node.machine.engine import reads
from lithair_node.machine.state import StateMachine
from lithair_node.node.background import running
from lithair_node.node.coldtier import manifest
from lithair_node.node.coldtier.store import ColdStore, S3Options, open_store
from lithair_node.node.config import ColdTierConfig
from lithair_node.node.consistency import propose_and_wait
from lithair_node.node.http.context import NODE, NodeContext
from lithair_node.node.queries import cold_reads
from lithair_node.node.raft.types import ProposeError

if TYPE_CHECKING:  # the writer is pyarrow: loaded at the first move, not by every node
    from lithair_node.node.coldtier.writer import ColdBatch

log = logging.getLogger(__name__)

MAX_ROWS_PER_MOVE = 1_000_000  # a round's memory bound; what is left goes next round
SEQ_SHIFT = 10**6  # part name = seq * SEQ_SHIFT + term % SEQ_SHIFT
_PART = re.compile(r"part-(\d+)\.parquet$")
MIN_TS = -(2**63)


def open_tier(config: ColdTierConfig) -> ColdStore:
    return open_store(config.url, S3Options(endpoint=config.s3_endpoint,
                                            access_key=config.s3_access_key,
                                            secret_key=config.s3_secret_key,
                                            region=config.s3_region))


@dataclass(frozen=True)
class Move:
    batch: ColdBatch
    cutoffs: dict[str, int]
    rows: dict[str, int]


def collect(state: StateMachine, due: Mapping[str, int], max_rows: int = MAX_ROWS_PER_MOVE) -> Move | None:
    """The due sensors' readings older than their cutoffs, whole sensors only, up to about
    `max_rows` (at least one sensor), from views taken at one applied index."""
    read = state.read(sorted(due))
    names: list[str] = []
    locations: list[str | None] = []
    sensor, ts, columns = [], [], []  # per chunk: sensor number, ts, {metric: values}
    rows: dict[str, int] = {}
    for view in read.views:
        if rows and sum(rows.values()) >= max_rows:
            break
        metric_names = view.engine.metric_names
        n = 0
        for metric_ids, chunk_ts, values in reads.chunks(view.engine, view.sensor, MIN_TS,
                                                         due[view.sensor_id], 65_536):
            sensor.append(np.full(chunk_ts.shape[0], len(names), np.int64))
            ts.append(chunk_ts)
            columns.append({metric_names[m]: values[i] for i, m in enumerate(metric_ids.tolist())})
            n += int(chunk_ts.shape[0])
        if n:
            rows[view.sensor_id] = n
            names.append(view.sensor_id)
            locations.append(view.location)
    if not rows:
        return None
    metrics = {}
    for name in sorted({m for c in columns for m in c}):
        metrics[name] = np.concatenate([c.get(name, np.full(t.shape[0], np.nan))
                                        for c, t in zip(columns, ts, strict=True)])
    from lithair_node.node.coldtier.writer import ColdBatch

    batch = ColdBatch(np.concatenate(sensor), np.concatenate(ts), names, locations, metrics)
    return Move(batch, {s: due[s] for s in rows}, rows)


def write_verified(store: ColdStore, move: Move, name: int) -> list[manifest.ColdFile]:
    from lithair_node.node.coldtier.writer import write

    files = write(store, move.batch, name)
    for entry in files:
        manifest.verify(store, entry)  # what commits is what the store holds
    return files


def sweep(store: ColdStore, listed: set[str]) -> int:
    """Delete the tier's part files no committed entry lists (called after a barrier)."""
    gone = 0
    for path in store.list():
        if _PART.search(path) and path not in listed:
            store.delete(path)
            gone += 1
    return gone


async def move_once(node: NodeContext, store: ColdStore) -> int:
    """One round; returns the readings committed to the cold tier."""
    due = node.state.tier_due()
    if not due:
        return 0
    timeout = node.config.commit_timeout_s
    barrier = await propose_and_wait(node.raft, encode_barrier(0), timeout)
    term = barrier.term  # files and entry carry it: apply refuses the entry in another term
    status = node.raft.status()
    if status.role != "leader" or status.term != term:  # forwarded to, or deposed by, another
        return 0
    cold = node.state.cold_manifest()
    listed = {str(f[1]) for f in cold.files}
    orphans = await asyncio.to_thread(sweep, store, listed)
    if orphans:
        log.info("cold tier: deleted %d files no committed entry lists", orphans)
    move = await asyncio.to_thread(collect, node.state, due)
    if move is None:
        return 0
    name = cold.next_seq * SEQ_SHIFT + term % SEQ_SHIFT
    files = await asyncio.to_thread(write_verified, store, move, name)
    body = {"seq": cold.next_seq, "term": term, "files": [f.to_wire() for f in files],
            "cutoffs": move.cutoffs, "rows": move.rows}
    result = await propose_and_wait(node.raft, encode_cold(body), timeout)
    if result.error:
        log.warning("cold tier entry refused (next round retries): %s", result.error)
        return 0
    moved = sum(move.rows.values())
    log.info("cold tier: %d readings of %d sensors in %d files (seq %d)", moved,
             len(move.rows), len(files), cold.next_seq)
    return moved


def should_move(node: NodeContext) -> bool:
    status = node.raft.status()
    return status.role == "leader" and status.ready


async def move_forever(node: NodeContext, store: ColdStore) -> None:
    while True:
        await asyncio.sleep(node.config.lifecycle_tick_s)  # a period, not a wait for a condition
        if not should_move(node):
            continue
        try:
            await move_once(node, store)
        except (ProposeError, TimeoutError) as exc:  # lost leadership: the next leader moves
            log.info("cold tier round not committed: %s", exc)
        except Exception:  # the store failing (network, credentials): retried next period
            log.exception("cold tier round failed")


async def cold_mover(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: with a cold tier configured, every node reads it; the leader moves."""
    node = app[NODE]
    if node.config.cold is None:
        yield
        return
    store = await asyncio.to_thread(open_tier, node.config.cold)
    cold_reads.install(store, node.state)
    try:
        async with running(move_forever(node, store), "cold-mover"):
            yield
    finally:
        cold_reads.uninstall(node.state)
