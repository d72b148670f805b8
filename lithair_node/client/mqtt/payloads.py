"""A message's payload -> readings (dicts in the batch body's shape), or line protocol for
the node to parse. The node validates both; here only what cannot be a reading at all is
refused (BadPayload names why)."""

from __future__ import annotations

from typing import Any

import orjson
from paho.mqtt.client import topic_matches_sub

_JSON_STARTS = (b"{", b"[")  # what starts a JSON payload (malformed or not), never a line


class BadPayload(ValueError):
    """The payload can never become readings: the message goes to the dead-letter topic."""


def sensor_from_topic(topic: str, filters: list[str]) -> str | None:
    """The level of `topic` under the first `+` of the first filter it matches
    (`sensors/{sensor_id}/readings` for `sensors/+/readings`), or None."""
    levels = topic.split("/")
    for topic_filter in filters:
        parts = topic_filter.split("/")
        if "+" in parts and topic_matches_sub(topic_filter, topic):
            return levels[parts.index("+")]
    return None


def line_protocol(payload: bytes) -> tuple[bytes, int] | None:
    """A payload that is not JSON but UTF-8 text is line protocol, for the node to parse
    (its 400 names the bad line): (the text without its trailing line break, its count of
    points). None for anything JSON-like; BadPayload for what is neither."""
    if payload.lstrip()[:1] in _JSON_STARTS:
        return None
    try:
        orjson.loads(payload)
        return None  # a JSON scalar: decode() says why it is no reading
    except orjson.JSONDecodeError:
        pass
    try:
        payload.decode()
    except UnicodeDecodeError:
        raise BadPayload("neither JSON nor line protocol (not UTF-8)") from None
    lines = payload.rstrip(b"\r\n")
    points = sum(1 for line in lines.splitlines() if line.strip() and not line.lstrip().startswith(b"#"))
    if not points:
        raise BadPayload("an empty payload")
    return lines, points


def decode(payload: bytes, topic: str, filters: list[str]) -> list[dict[str, Any]]:
    """Accepted JSON shapes: a reading; an array of readings; an object of metrics (no
    `sensor_id`) whose sensor is the topic's `+` level."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise BadPayload(f"not JSON: {exc}") from None
    if isinstance(body, list):
        if not body or not all(isinstance(item, dict) for item in body):
            raise BadPayload("a JSON array must hold one reading object or more")
        return body
    if not isinstance(body, dict):
        raise BadPayload(f"a JSON {type(body).__name__} is not a reading")
    if "sensor_id" in body:
        return [body]
    sensor_id = sensor_from_topic(topic, filters)
    if sensor_id is None:
        raise BadPayload("no sensor_id in the payload, and none in the topic")
    return [{"sensor_id": sensor_id, **body}]
