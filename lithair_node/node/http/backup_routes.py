"""GET /api/v1/backup: this node's state at one applied index, streamed as a backup file
(machine/backup_file.py). Any node's applied state is a consistent cut, so no forwarding;
?consistency=linearizable first runs the read barrier (consistent_reads.py)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from lithair_node import api
from lithair_node.node.backup_stream import BackupStream, StateTooBusy, backup_info, capture_with_digest
from lithair_node.node.errors import Unavailable
from lithair_node.node.http.consistent_reads import read_headers
from lithair_node.node.http.context import NodeContext, node_of

log = logging.getLogger(__name__)


def _cluster(node: NodeContext) -> list[dict[str, str]]:
    """The members this node knows, with the node id and URL each announced (if it did)."""
    announced = node.state.members()
    addresses = sorted({node.config.raft_address,
                        *(peer.raft_address for peer in node.raft.status().peers)})
    return [{"raft": address, "node_id": announced.get(address, {}).get("node_id", ""),
             "http": announced.get(address, {}).get("http", "")} for address in addresses]


async def get_backup(request: web.Request) -> web.StreamResponse:
    node = node_of(request)
    try:
        view, digest = await asyncio.to_thread(capture_with_digest, node.state)
    except StateTooBusy as exc:
        raise Unavailable(str(exc), retry_after=1) from None
    info = backup_info(view, digest, _cluster(node))
    response = web.StreamResponse(headers={
        **read_headers(request, info.applied_index),
        "Content-Type": api.BACKUP_TYPE,
        "Content-Disposition": f'attachment; filename="lithair-{info.applied_index}.lbak"',
    })
    stream = BackupStream(view, info)
    chunks = iter(stream)
    try:
        await response.prepare(request)
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            await response.write(chunk)
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:
        # Headers are sent: cut the connection so the client sees a truncated backup.
        log.exception("backup failed mid-stream")
        if request.transport is not None:
            request.transport.close()
        return response
    finally:
        stream.close()
    await response.write_eof()
    log.info("backup at index %d: %d readings sent", info.applied_index, info.readings)
    return response
