"""Run one node: the HTTP API on the event loop, with the Raft replica (on its own thread)
starting and stopping with the application."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import ssl

from aiohttp import web

from lithair_node.machine.engine.engine import SEAL_ROWS
from lithair_node.machine.engine.run_index import INDEX_BUILDER
from lithair_node.machine.engine.sealing import DEFAULT_BUILDER, DEFAULT_MERGE_BUILDER
from lithair_node.node.config import NodeConfig
from lithair_node.node.http.app import make_app
from lithair_node.node.http.protocol_errors import NodeRunner
from lithair_node.node.raft import heap

log = logging.getLogger(__name__)


# Per rank among the members: rows applied after a cut before this node builds its segment
# (sealing.ThreadBuilder.lag_rows); the third node starts a quarter of a seal interval late.
BUILD_STAGGER_ROWS = SEAL_ROWS // 8
# Segment builds, merges and index rebuilds run at nice 10: on a box whose cores the nodes
# share, a build then waits for requests and applies instead of delaying their acks. Open
# loop at 60K readings/s (S = 1,000), interleaved with nice 0: p99 lower in 5 of 7 passes,
# p50 in 6 of 7 (engine-http-latency-20261202T013320Z.json and T013715Z); closed-loop
# throughput within noise (cardinality-20261202T013952Z.json).
BUILDER_NICE = 10


def serve(config: NodeConfig) -> None:
    """Run until SIGTERM/SIGINT. Raises on startup failure (e.g. a port in use)."""
    members = sorted({config.raft_address, *config.peers})
    DEFAULT_BUILDER.lag_rows = BUILD_STAGGER_ROWS * members.index(config.raft_address)
    for builder in (DEFAULT_BUILDER, DEFAULT_MERGE_BUILDER, INDEX_BUILDER):
        builder.nice = BUILDER_NICE
    try:
        import uvloop
    except ImportError:  # e.g. Windows: asyncio's own loop works, only slower
        asyncio.run(run_node(config))
    else:
        uvloop.run(run_node(config))


def _tune_gc() -> None:
    """Keep cyclic-GC pauses short: they stop every thread of the node (HTTP, Raft tick).

    Measured under a 77 req/s open-loop load (batch 1,000): with the defaults, full
    collections of 26-92 ms stalled the Raft tick and set the p99 ack latency. Everything
    alive once the node has started (modules, the app, the restored state) moves to the
    permanent generation (gc.freeze), and collections run after 20,000 net container
    allocations instead of 700: a 1,000-reading JSON body alone is 1,000 dicts.
    The replicated state itself is numpy arrays and atom tuples, which the GC does not scan.
    """
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    heap.pin_mmap_threshold()  # large numpy temporaries go back to the OS (heap.py)


def _tls_context(config: NodeConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


async def run_node(config: NodeConfig, stop: asyncio.Event | None = None) -> None:
    """Serve `config` until `stop` is set (or SIGTERM/SIGINT). The application starts and stops
    the node's parts itself (node/http/lifecycle.py)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)

    runner = NodeRunner(make_app(config), access_log=None, handle_signals=False,
                        keepalive_timeout=config.idle_timeout_s)
    try:
        await runner.setup()
        site = web.TCPSite(runner, config.http_host, config.http_port, backlog=1024,
                           reuse_address=True, ssl_context=_tls_context(config))
        await site.start()
        _tune_gc()
        log.info("node %s: HTTP on %s, Raft on %s (peers %s), data in %s", config.node_id,
                 config.http_url, config.raft_address, ", ".join(config.peers) or "none",
                 config.data_dir)
        await stop.wait()
        log.info("node %s: stopping", config.node_id)
    finally:
        await runner.cleanup()
