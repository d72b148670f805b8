"""Query routes: sensors, latest, readings, stats, time buckets, locations, anomalies, export.

Each handler takes the state lock only to capture immutable views (and the applied index
they reflect), then computes outside it; heavier computations run in a worker thread so
the event loop keeps serving. Consistency levels are applied around the handlers
(consistent_reads.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import numpy as np
from aiohttp import web

from lithair_node.machine.anomalies import AnomalySettings, SettingsError
from lithair_node.machine.commands import encode_settings
from lithair_node.machine.series import SeriesView
from lithair_node.node.consistency import propose_and_wait
from lithair_node.node.errors import InvalidParameter, NotFound, raft_failure
from lithair_node.node.http.bodies import json_response, read_body
from lithair_node.node.http.consistent_reads import read_headers
from lithair_node.node.http.context import NodeContext, node_of
from lithair_node.node.http.params import (
    choice_param,
    cursor_param,
    duration_param,
    int_param,
    list_param,
    time_param,
    time_range,
    timestamp_cursor,
)
from lithair_node.node.queries import buckets, export, series_reads
from lithair_node.node.queries.sensors import SensorDirectory, page_after, summary
from lithair_node.node.raft.types import ProposeError
from lithair_node.node.timestamps import MAX_US, MIN_US, format_timestamp

log = logging.getLogger(__name__)

MAX_BUCKETS = 100_000
_DIRECTORY = web.AppKey("sensor_directory", SensorDirectory)


def setup(app: web.Application) -> None:
    app[_DIRECTORY] = SensorDirectory()


def _answer(request: web.Request, payload: dict[str, Any], applied_index: int) -> web.Response:
    payload["applied_index"] = applied_index
    return json_response(payload, headers=read_headers(request, applied_index))


def _range_fields(start: int, end: int) -> dict[str, str | None]:
    return {"from": None if start <= MIN_US else format_timestamp(start),
            "to": None if end > MAX_US else format_timestamp(end)}


def _one_view(node: NodeContext, sensor_id: str) -> tuple[int, SeriesView, list[str]]:
    with node.state.lock:
        index, views = node.state.views([sensor_id])
        names = node.state.metric_names()
    if not views:
        raise NotFound(f"unknown sensor {sensor_id!r}", field="sensor_id")
    return index, views[0], names


def _metric_rows(view: SeriesView, names: list[str], wanted: tuple[str, ...]) -> np.ndarray:
    """Row indexes of `wanted` metrics (all when empty), ordered by metric name."""
    own = {names[m]: row for row, m in enumerate(view.metric_ids)}
    for metric in wanted:
        if metric not in own:
            raise NotFound(f"sensor {view.sensor_id!r} has no metric {metric!r} "
                           f"(it has: {', '.join(sorted(own)) or 'none'})", field="metric")
    chosen = wanted or tuple(own)
    return np.asarray([own[m] for m in sorted(chosen)], dtype=np.intp)


# -- sensors, latest, locations ---------------------------------------------------------------


async def get_sensors(request: web.Request) -> web.Response:
    node = node_of(request)
    query = request.query
    limit = int_param(query, "limit", 100, 1, 1000)
    location = query.get("location")
    ids = (node.state.sensors_at(location) if location
           else request.app[_DIRECTORY].sorted_ids(node.state))
    chosen, next_cursor = page_after(ids, cursor_param(query), limit)
    with node.state.lock:
        index, views = node.state.views(chosen)
        names = node.state.metric_names()
    return _answer(request, {
        "sensors": [summary(view, names) for view in views],
        "total": len(ids),
        "next_cursor": next_cursor,
    }, index)


async def get_sensor_latest(request: web.Request) -> web.Response:
    index, view, names = _one_view(node_of(request), request.match_info["sensor_id"])
    newest = series_reads.latest_values(view, names)
    if newest is None:
        raise NotFound(f"unknown sensor {view.sensor_id!r}", field="sensor_id")
    ts, values = newest
    return _answer(request, {"sensor_id": view.sensor_id, "timestamp": format_timestamp(ts),
                             "timestamp_us": ts, "location": view.location, "values": values},
                   index)


async def get_latest(request: web.Request) -> web.Response:
    """GET /api/v1/latest?location=X (or ?sensor_id=a,b): the newest reading of each."""
    node = node_of(request)
    location = request.query.get("location")
    wanted = list_param(request.query, "sensor_id")
    if bool(location) == bool(wanted):
        raise InvalidParameter("give location= or sensor_id= (one of them)", field="location")
    ids = node.state.sensors_at(location) if location else list(wanted)
    if location and not ids:
        raise NotFound(f"unknown location {location!r}", field="location")
    with node.state.lock:
        index, views = node.state.views(ids)
        names = node.state.metric_names()
    found = []
    for view in views:
        newest = series_reads.latest_values(view, names)
        if newest is not None:
            ts, values = newest
            found.append({"sensor_id": view.sensor_id, "location": view.location,
                          "timestamp": format_timestamp(ts), "timestamp_us": ts, "values": values})
    payload: dict[str, Any] = {"location": location, "sensors": found}
    if wanted:
        known = {v.sensor_id for v in views}
        payload["unknown_sensors"] = [s for s in wanted if s not in known]
    return _answer(request, payload, index)


async def get_locations(request: web.Request) -> web.Response:
    index, locations = node_of(request).state.locations()
    return _answer(request, {"locations": [
        {"location": location, "sensors": sensors, "sensor_count": len(sensors)}
        for location, sensors in locations.items()
    ]}, index)


# -- one sensor: readings and stats ---------------------------------------------------------


async def get_readings(request: web.Request) -> web.Response:
    node = node_of(request)
    query = request.query
    start, end = time_range(query)
    limit = int_param(query, "limit", 1000, 1, 10_000)
    wanted = list_param(query, "metric")
    begin = timestamp_cursor(cursor_param(query), start, end)
    index, view, names = _one_view(node, request.match_info["sensor_id"])
    rows = _metric_rows(view, names, wanted)
    ts, values, next_start = series_reads.page(view, begin, end, limit,
                                               None if not wanted else rows)
    if not wanted:
        values = values[rows]
    row_names = [names[view.metric_ids[r]] for r in rows]
    return _answer(request, {
        "sensor_id": view.sensor_id,
        "location": view.location,
        **_range_fields(start, end),
        "count": int(ts.shape[0]),
        "readings": series_reads.rows_as_dicts(ts, values, row_names),
        "next_cursor": None if next_start is None else str(next_start),
    }, index)


async def get_sensor_stats(request: web.Request) -> web.Response:
    node = node_of(request)
    query = request.query
    start, end = time_range(query)
    ranged = "from" in query or "to" in query
    sensor_id = request.match_info["sensor_id"]
    with node.state.lock:  # views and running aggregates from the same applied index
        index, view, names = _one_view(node, sensor_id)
        running = None if ranged else node.state.cell_stats(view.cells)
    if running is None:
        stats = await asyncio.to_thread(series_reads.range_stats, view, start, end)
        readings = series_reads.count_between(view, start, end)
    else:
        stats, readings = running, len(view)
    row_names = [names[m] for m in view.metric_ids]
    return _answer(request, {
        "sensor_id": view.sensor_id,
        "location": view.location,
        **_range_fields(start, end),
        "readings": readings,
        "metrics": series_reads.describe_stats(stats, row_names),
    }, index)


def _selected_views(request: web.Request, node: NodeContext, *, unknown_location_is_404: bool,
                    sort_ids: bool = False) -> tuple[int, list[SeriesView], list[str]]:
    """The series a query names with `sensor_id=` (a list) or `location=` (or every sensor),
    with the applied index and metric names taken in the same capture."""
    query = request.query
    sensor_ids = list_param(query, "sensor_id")
    location = query.get("location")
    if sensor_ids and location:
        raise InvalidParameter("give sensor_id= or location=, not both", field="location")
    if location:
        ids = node.state.sensors_at(location)
        if not ids and unknown_location_is_404:
            raise NotFound(f"unknown location {location!r}", field="location")
    elif sensor_ids:
        ids = sorted(sensor_ids) if sort_ids else list(sensor_ids)
    else:
        ids = request.app[_DIRECTORY].sorted_ids(node.state)
    with node.state.lock:
        index, views = node.state.views(ids)
        names = node.state.metric_names()
    if sensor_ids and len(views) < len(sensor_ids):
        known = {v.sensor_id for v in views}
        missing = next(s for s in sensor_ids if s not in known)
        raise NotFound(f"unknown sensor {missing!r}", field="sensor_id")
    return index, views, names


# -- time buckets --------------------------------------------------------------------------------


async def get_aggregate(request: web.Request) -> web.Response:
    node = node_of(request)
    query = request.query
    metric = query.get("metric")
    if not metric:
        raise InvalidParameter("metric is required (e.g. metric=temperature)", field="metric")
    every = duration_param(query, "every")
    start, end = time_range(query)
    functions = list_param(query, "fn", buckets.FUNCTIONS, ("mean",))
    sensor_ids = list_param(query, "sensor_id")
    index, views, names = _selected_views(request, node, unknown_location_is_404=True)
    metric_id = names.index(metric) if metric in names else -1
    chosen = [(v, v.metric_ids.index(metric_id)) for v in views if metric_id in v.metric_ids]
    _check_bucket_count([v for v, _ in chosen], start, end, every)
    rows = await asyncio.to_thread(buckets.aggregate, _metric_chunks(chosen, start, end), every,
                                   functions)
    return _answer(request, {
        "metric": metric,
        "every": query["every"],
        "every_us": every,
        **_range_fields(start, end),
        "sensor_id": sensor_ids[0] if len(sensor_ids) == 1 else (list(sensor_ids) or None),
        "location": query.get("location"),
        "sensors": len(chosen),
        "buckets": rows,
    }, index)


def _metric_chunks(chosen: list[tuple[SeriesView, int]], start: int, end: int):  # type: ignore[no-untyped-def]
    for view, row in chosen:
        for ts, values in series_reads.iter_parts(view, start, end):
            yield ts, values[row]


def _check_bucket_count(views: list[SeriesView], start: int, end: int, every: int) -> None:
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


# -- anomalies -------------------------------------------------------------------------------------


def _settings_body(settings: AnomalySettings) -> dict[str, Any]:
    return {"sigma": settings.sigma, "cooldown_s": settings.cooldown_us / 1_000_000,
            "min_count": settings.min_count}


async def get_anomalies(request: web.Request) -> web.Response:
    node = node_of(request)
    query = request.query
    since = time_param(query, "since", MIN_US)
    sensor_ids = set(list_param(query, "sensor_id"))
    metric = query.get("metric")
    limit = int_param(query, "limit", 1000, 1, 10_000)
    index, settings, total, records = node.state.anomalies()
    matching = [r for r in records if r.timestamp_us >= since
                and (not sensor_ids or r.sensor_id in sensor_ids)
                and (not metric or any(m[0] == metric for m in r.metrics))]
    return _answer(request, {
        "settings": _settings_body(settings),
        "total_detected": total,
        "matching": len(matching),
        "anomalies": [{
            "sensor_id": r.sensor_id,
            "timestamp": format_timestamp(r.timestamp_us),
            "timestamp_us": r.timestamp_us,
            "raft_index": r.raft_index,
            "metrics": {name: {"value": value, "mean": mean, "stddev": std,
                               "sigmas": abs(value - mean) / std if std > 0 else None}
                        for name, value, mean, std in r.metrics},
        } for r in matching[-limit:]],
    }, index)


async def get_anomaly_settings(request: web.Request) -> web.Response:
    index, settings, total, _ = node_of(request).state.anomalies()
    return _answer(request, {**_settings_body(settings), "total_detected": total}, index)


async def put_anomaly_settings(request: web.Request) -> web.Response:
    """Change the anomaly settings through the log, so every node switches at one index."""
    node = node_of(request)
    body = await read_body(request, 64 * 1024, node.config.body_timeout_s)
    if not isinstance(body, dict) or not body:
        raise InvalidParameter('body must be an object, e.g. {"sigma": 4, "cooldown_s": 300}')
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name == "cooldown_s":
            if type(value) not in (int, float) or not 0 <= value <= 1e9:
                raise InvalidParameter("cooldown_s must be a number of seconds >= 0", field=name)
            changes["cooldown_us"] = round(value * 1_000_000)
        elif name in ("sigma", "min_count"):
            changes[name] = value
        else:
            raise InvalidParameter(f"unknown setting {name!r} (sigma, cooldown_s, min_count)",
                                   field=str(name))
    _, current, _, _ = node.state.anomalies()
    try:
        current.updated(changes)  # refuse bad values here, not in the log
    except SettingsError as exc:
        raise InvalidParameter(str(exc)) from None
    try:
        result = await propose_and_wait(node.raft, encode_settings({"anomalies": changes}),
                                        node.config.commit_timeout_s)
    except (ProposeError, TimeoutError) as exc:
        raise raft_failure(exc, "the settings change",
                           timeout_s=node.config.commit_timeout_s) from None
    if result.error is not None:
        raise InvalidParameter(result.error)
    index, settings, total, _ = node.state.anomalies()
    return _answer(request, {**_settings_body(settings), "total_detected": total,
                             "raft_index": result.index}, index)


# -- export -------------------------------------------------------------------------------------------


async def get_export(request: web.Request) -> web.StreamResponse:
    node = node_of(request)
    query = request.query
    fmt = choice_param(query, "format", export.FORMATS)
    start, end = time_range(query)
    index, views, names = _selected_views(request, node, unknown_location_is_404=False,
                                          sort_ids=True)
    schema = export.schema_for(export.metric_columns(views, names), fmt)
    pieces = export.encode(export.record_batches(views, names, start, end, schema), schema, fmt)
    response = web.StreamResponse(headers={
        **read_headers(request, index),
        "Content-Type": export.CONTENT_TYPES[fmt],
        "Content-Disposition": f'attachment; filename="lithair-export.{fmt}"',
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
