"""GET /api/v1/aggregate: one metric in time buckets, over the sensors a query names."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
from aiohttp import web

from lithair_node.machine.engine.sensor_view import SensorView
from lithair_node.node.errors import InvalidParameter
from lithair_node.node.http.answers import answer, range_fields
from lithair_node.node.http.lifecycle_routes import SOURCES, rollup_buckets
from lithair_node.node.http.params import duration_param, list_param, time_range
from lithair_node.node.http.selection import selected
from lithair_node.node.queries import buckets, cold_reads, series_reads

MAX_BUCKETS = 100_000


async def get_aggregate(request: web.Request) -> web.Response:
    query = request.query
    metric = query.get("metric")
    if not metric:
        raise InvalidParameter("metric is required (e.g. metric=temperature)", field="metric")
    every = duration_param(query, "every")
    start, end = time_range(query)
    functions = list_param(query, "fn", buckets.FUNCTIONS, ("mean",))
    sensor_ids = list_param(query, "sensor_id")
    read = selected(request, unknown_location_is_404=True)
    names = read.metric_names
    metric_id = names.index(metric) if metric in names else -1
    chosen = [(v, v.metric_ids.index(metric_id)) for v in read.views if metric_id in v.metric_ids]
    source = query.get("source", "auto")
    if source not in SOURCES:
        raise InvalidParameter("source must be auto, raw or rollup", field="source")
    # A rollup answers when it applies (lifecycle_routes.rollup_buckets); else the raw data.
    rolled = None if source == "raw" or not chosen else rollup_buckets(
        request, [v.sensor_id for v, _ in chosen], metric, every, start, end, functions, source)
    cold = False
    if rolled is None:
        views = [v for v, _ in chosen]
        _check_bucket_count(views, start, end, every)
        cold = any(cold_reads.plan(v, start, end) for v in views)
        if cold:  # the cold tier's readings are merged per sensor (series_reads.iter_parts)
            rows = await asyncio.to_thread(buckets.aggregate, _metric_chunks(chosen, start, end),
                                           every, functions)
        else:  # one multi-sensor read of the engine (machine/engine/metric_reads.py)
            rows = await asyncio.to_thread(buckets.aggregate_metric, views, metric_id,
                                           start, end, every, functions)
        rolled = ("raw", rows)
    return answer(request, {
        "metric": metric,
        "every": query["every"],
        "every_us": every,
        **range_fields(start, end),
        "sensor_id": sensor_ids[0] if len(sensor_ids) == 1 else (list(sensor_ids) or None),
        "location": query.get("location"),
        "sensors": len(chosen),
        "source": rolled[0],
        **({"cold": True} if cold else {}),
        "buckets": rolled[1],
    }, read.applied_index)


def _metric_chunks(chosen: list[tuple[SensorView, int]], start: int,
                   end: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for view, row in chosen:
        for ts, values in series_reads.iter_parts(view, start, end):
            yield ts, values[row]


def _check_bucket_count(views: list[SensorView], start: int, end: int, every: int) -> None:
    firsts = [t for t in map(series_reads.first_ts, views) if t is not None]
    lasts = [t for t in map(series_reads.last_ts, views) if t is not None]
    if not firsts:
        return
    low, high = max(start, min(firsts)), min(end - 1, max(lasts))
    if high >= low and high // every - low // every + 1 > MAX_BUCKETS:
        raise InvalidParameter(
            f"more than {MAX_BUCKETS:,} buckets: use a larger every= or a narrower from/to",
            field="every",
        )
