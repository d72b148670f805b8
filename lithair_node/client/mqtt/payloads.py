"""A message's payload -> readings (dicts in the batch body's shape). The node validates
them; here only what cannot be a reading at all is refused (BadPayload names why)."""

from __future__ import annotations

from typing import Any

import orjson
from paho.mqtt.client import topic_matches_sub


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


def decode(payload: bytes, topic: str, filters: list[str]) -> list[dict[str, Any]]:
    """Accepted shapes: a reading; an array of readings; an object of metrics (no
    `sensor_id`) whose sensor is the topic's `+` level. Line protocol is not accepted
    (it is left to the node's /api/v2/write route, see the README)."""
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
