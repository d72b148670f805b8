"""Anomalies: those detected (filtered), and the detector's settings, read and changed."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lithair_node import api
from lithair_node.machine.anomalies import AnomalySettings, SettingsError
from lithair_node.machine.commands import encode_settings
from lithair_node.node.consistency import propose_and_wait
from lithair_node.node.errors import InvalidParameter, raft_failure
from lithair_node.node.http.answers import answer
from lithair_node.node.http.bodies import read_body
from lithair_node.node.http.context import node_of
from lithair_node.node.http.forwarding import require_leader
from lithair_node.node.http.params import int_param, list_param, time_param
from lithair_node.node.queries.anomaly_rows import anomaly_row
from lithair_node.node.raft.types import ProposeError
from lithair_node.node.timestamps import MIN_US

MAX_SETTINGS_BODY_BYTES = 64 * 1024


def _settings_body(settings: AnomalySettings) -> dict[str, Any]:
    return {"sigma": settings.sigma, "cooldown_s": settings.cooldown_us / api.US_PER_SECOND,
            "min_count": settings.min_count}


async def get_anomalies(request: web.Request) -> web.Response:
    query = request.query
    since = time_param(query, "since", MIN_US)
    sensor_ids = set(list_param(query, "sensor_id"))
    metric = query.get("metric")
    limit = int_param(query, "limit", 1000, 1, 10_000)
    index, settings, total, records = node_of(request).state.anomalies()
    matching = [r for r in records if r.timestamp_us >= since
                and (not sensor_ids or r.sensor_id in sensor_ids)
                and (not metric or any(m[0] == metric for m in r.metrics))]
    return answer(request, {
        "settings": _settings_body(settings),
        "total_detected": total,
        "matching": len(matching),
        "anomalies": [anomaly_row(r) for r in matching[-limit:]],
    }, index)


async def get_anomaly_settings(request: web.Request) -> web.Response:
    index, settings, total, _ = node_of(request).state.anomalies()
    return answer(request, {**_settings_body(settings), "total_detected": total}, index)


async def put_anomaly_settings(request: web.Request) -> web.Response:
    """Change the anomaly settings through the log, so every node switches at one index."""
    node = node_of(request)
    require_leader(node)  # before reading a body that could not commit
    body = await read_body(request, MAX_SETTINGS_BODY_BYTES, node.config.body_timeout_s)
    changes = _settings_changes(body)
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
    return answer(request, {**_settings_body(settings), "total_detected": total,
                            "raft_index": result.index}, index)


def _settings_changes(body: Any) -> dict[str, Any]:
    """The settings a body changes, with cooldown_s in the log's microseconds."""
    if not isinstance(body, dict) or not body:
        raise InvalidParameter('body must be an object, e.g. {"sigma": 4, "cooldown_s": 300}')
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name == "cooldown_s":
            if type(value) not in (int, float) or not 0 <= value <= 1e9:
                raise InvalidParameter("cooldown_s must be a number of seconds >= 0", field=name)
            changes["cooldown_us"] = round(value * api.US_PER_SECOND)
        elif name in ("sigma", "min_count"):
            changes[name] = value
        else:
            raise InvalidParameter(f"unknown setting {name!r} (sigma, cooldown_s, min_count)",
                                   field=str(name))
    return changes
