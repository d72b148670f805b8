"""One sensor's readings (paged, by time range and metric) and its statistics."""

from __future__ import annotations

import asyncio

import numpy as np
from aiohttp import web

from lithair_node.machine.engine.sensor_view import SensorView
from lithair_node.node.errors import NotFound
from lithair_node.node.http.answers import answer, range_fields
from lithair_node.node.http.context import node_of
from lithair_node.node.http.params import cursor_param, int_param, list_param, time_range, timestamp_cursor
from lithair_node.node.http.selection import one_sensor
from lithair_node.node.queries import cold_reads, series_reads


def _metric_rows(view: SensorView, names: list[str], wanted: tuple[str, ...]) -> np.ndarray:
    """Row indexes of `wanted` metrics (all when empty), ordered by metric name."""
    own = {names[m]: row for row, m in enumerate(view.metric_ids)}
    for metric in wanted:
        if metric not in own:
            raise NotFound(f"sensor {view.sensor_id!r} has no metric {metric!r} "
                           f"(it has: {', '.join(sorted(own)) or 'none'})", field="metric")
    chosen = wanted or tuple(own)
    return np.asarray([own[m] for m in sorted(chosen)], dtype=np.intp)


async def get_readings(request: web.Request) -> web.Response:
    query = request.query
    start, end = time_range(query)
    limit = int_param(query, "limit", 1000, 1, 10_000)
    wanted = list_param(query, "metric")
    begin = timestamp_cursor(cursor_param(query), start, end)
    read, view = one_sensor(node_of(request), request.match_info["sensor_id"])
    names = read.metric_names
    rows = _metric_rows(view, names, wanted)
    ts, values, next_start = series_reads.page(view, begin, end, limit,
                                               None if not wanted else rows)
    if not wanted:
        values = values[rows]
    row_names = [names[view.metric_ids[r]] for r in rows]
    return answer(request, {
        "sensor_id": view.sensor_id,
        "location": view.location,
        **range_fields(start, end),
        "count": int(ts.shape[0]),
        "readings": series_reads.rows_as_dicts(ts, values, row_names),
        "next_cursor": None if next_start is None else str(next_start),
        **cold_reads.answer_fields(view, begin, end),  # "cold": true when it reached there
    }, read.applied_index)


async def get_sensor_stats(request: web.Request) -> web.Response:
    query = request.query
    start, end = time_range(query)
    ranged = "from" in query or "to" in query
    # Unranged stats are the running aggregates, read with the view at one applied index.
    read, view = one_sensor(node_of(request), request.match_info["sensor_id"],
                            running=not ranged)
    if read.running is None:
        stats = await asyncio.to_thread(series_reads.range_stats, view, start, end)
        readings = series_reads.count_between(view, start, end)
    else:
        stats, readings = read.running[0], len(view)
    row_names = [read.metric_names[m] for m in view.metric_ids]
    return answer(request, {
        "sensor_id": view.sensor_id,
        "location": view.location,
        **range_fields(start, end),
        "readings": readings,
        "metrics": series_reads.describe_stats(stats, row_names),
        **(cold_reads.answer_fields(view, start, end) if ranged else {}),
    }, read.applied_index)
