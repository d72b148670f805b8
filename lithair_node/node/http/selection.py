"""Which series a read covers: one sensor named in the path, or those a query names with
`sensor_id=` (a list) or `location=` (or every sensor). Each is one StateMachine.read: the
views, metric names and applied index come from the same instant, and no handler holds the
state's lock."""

from __future__ import annotations

from aiohttp import web

from lithair_node.machine.engine.sensor_view import SensorView
from lithair_node.machine.state import ReadView
from lithair_node.node.errors import InvalidParameter, NotFound
from lithair_node.node.http.context import NodeContext, node_of
from lithair_node.node.http.params import list_param
from lithair_node.node.queries.sensors import SensorDirectory

SENSOR_DIRECTORY = web.AppKey("sensor_directory", SensorDirectory)


def all_sensor_ids(request: web.Request) -> list[str]:
    return request.app[SENSOR_DIRECTORY].sorted_ids(node_of(request).state)


def one_sensor(node: NodeContext, sensor_id: str, *,
               running: bool = False) -> tuple[ReadView, SensorView]:
    read = node.state.read([sensor_id], running=running)
    if not read.views:
        raise NotFound(f"unknown sensor {sensor_id!r}", field="sensor_id")
    return read, read.views[0]


def selected(request: web.Request, *, unknown_location_is_404: bool,
             sort_ids: bool = False, running: bool = False) -> ReadView:
    """The series named by `sensor_id=` or `location=`, or all; 404 for an unknown id.
    `running`: with each view's running aggregates."""
    node = node_of(request)
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
        ids = all_sensor_ids(request)
    read = node.state.read(ids, running=running)
    if sensor_ids and len(read.views) < len(sensor_ids):
        known = {v.sensor_id for v in read.views}
        missing = next(s for s in sensor_ids if s not in known)
        raise NotFound(f"unknown sensor {missing!r}", field="sensor_id")
    return read
