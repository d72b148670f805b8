"""Sensors: the paged sensor list, one sensor's newest reading, the newest readings of a
location or a list of sensors, and the locations."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lithair_node.node.errors import InvalidParameter, NotFound
from lithair_node.node.http.answers import answer
from lithair_node.node.http.context import node_of
from lithair_node.node.http.params import cursor_param, int_param, list_param
from lithair_node.node.http.selection import all_sensor_ids, one_sensor
from lithair_node.node.queries import series_reads
from lithair_node.node.queries.sensors import page_after, summary
from lithair_node.node.timestamps import format_timestamp


async def get_sensors(request: web.Request) -> web.Response:
    node = node_of(request)
    query = request.query
    limit = int_param(query, "limit", 100, 1, 1000)
    location = query.get("location")
    ids = node.state.sensors_at(location) if location else all_sensor_ids(request)
    chosen, next_cursor = page_after(ids, cursor_param(query), limit)
    read = node.state.read(chosen)
    return answer(request, {
        "sensors": [summary(view, read.metric_names) for view in read.views],
        "total": len(ids),
        "next_cursor": next_cursor,
    }, read.applied_index)


async def get_sensor_latest(request: web.Request) -> web.Response:
    read, view = one_sensor(node_of(request), request.match_info["sensor_id"])
    newest = series_reads.latest_values(view)
    if newest is None:
        raise NotFound(f"unknown sensor {view.sensor_id!r}", field="sensor_id")
    ts, values = newest
    return answer(request, {"sensor_id": view.sensor_id, "timestamp": format_timestamp(ts),
                            "timestamp_us": ts, "location": view.location, "values": values},
                  read.applied_index)


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
    read = node.state.read(ids)
    found = []
    for view in read.views:
        newest = series_reads.latest_values(view)
        if newest is not None:
            ts, values = newest
            found.append({"sensor_id": view.sensor_id, "location": view.location,
                          "timestamp": format_timestamp(ts), "timestamp_us": ts, "values": values})
    payload: dict[str, Any] = {"location": location, "sensors": found}
    if wanted:
        known = {v.sensor_id for v in read.views}
        payload["unknown_sensors"] = [s for s in wanted if s not in known]
    return answer(request, payload, read.applied_index)


async def get_locations(request: web.Request) -> web.Response:
    index, locations = node_of(request).state.locations()
    return answer(request, {"locations": [
        {"location": location, "sensors": sensors, "sensor_count": len(sensors)}
        for location, sensors in locations.items()
    ]}, index)
