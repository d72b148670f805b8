"""`lithair backup`'s download: GET /api/v1/backup streamed into a file, written durably
(a temp file beside it, fsync, rename, fsync of the directory). The caller verifies it."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp

from lithair_node import api
from lithair_node.client.node_api import NodeApi


async def fetch_backup(url: str, out: Path, *, token: str | None, consistency: str,
                       timeout_s: float) -> int:
    """Download the node's backup into `out`; returns its size. ApiError on a refusal."""
    temp = out.with_name(out.name + ".tmp")
    async with aiohttp.ClientSession() as session:
        node = NodeApi(url, session, token=token, timeout_s=timeout_s)
        try:
            with open(temp, "wb") as sink:
                size = await node.download(f"{api.BACKUP}?consistency={consistency}", sink.write)
                sink.flush()
                os.fsync(sink.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    os.replace(temp, out)
    directory = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return size
