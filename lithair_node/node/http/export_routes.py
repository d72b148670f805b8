"""GET /api/v1/export: the readings a query names as CSV or Parquet, streamed."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from lithair_node.node.http.consistent_reads import read_headers
from lithair_node.node.http.params import choice_param, time_range
from lithair_node.node.http.selection import selected
from lithair_node.node.queries import cold_reads

log = logging.getLogger(__name__)


async def get_export(request: web.Request) -> web.StreamResponse:
    from lithair_node.node.queries import export  # pyarrow: loaded by the first export only

    query = request.query
    fmt = choice_param(query, "format", export.FORMATS)
    start, end = time_range(query)
    read = selected(request, unknown_location_is_404=False, sort_ids=True)
    views, names = read.views, read.metric_names
    schema = export.schema_for(export.metric_columns(views, names), fmt)
    pieces = export.encode(export.record_batches(views, names, start, end, schema), schema, fmt)
    response = web.StreamResponse(headers={
        **read_headers(request, read.applied_index),
        "Content-Type": export.CONTENT_TYPES[fmt],
        "Content-Disposition": f'attachment; filename="lithair-export.{fmt}"',
        **cold_reads.export_headers(views, start, end),
    })
    await response.prepare(request)
    try:
        while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
            await response.write(piece)
    except (ConnectionResetError, asyncio.CancelledError):
        with contextlib.suppress(Exception):
            pieces.close()
        raise
    except Exception:
        # Headers are sent: cut the connection so the client sees a truncated export.
        log.exception("export failed mid-stream")
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response
