"""Payload decoding and batch keys of the MQTT bridge, without a broker."""

from __future__ import annotations

import pytest

from lithair_node.client.mqtt.batches import batch_key
from lithair_node.client.mqtt.link import default_client_id
from lithair_node.client.mqtt.payloads import BadPayload, decode, line_protocol, sensor_from_topic

FILTERS = ["sensors/+/readings", "plant/+/+/data"]


def test_a_reading_an_array_and_metrics_named_by_the_topic() -> None:
    reading = {"sensor_id": "s1", "timestamp": 1, "temperature": 2}
    assert decode(b'{"sensor_id": "s1", "timestamp": 1, "temperature": 2}',
                  "sensors/other/readings", FILTERS) == [reading]
    assert decode(b'[{"sensor_id": 1, "timestamp": 1, "co2": 3}, {"sensor_id": 2, "co2": 4}]',
                  "x", FILTERS) == [{"sensor_id": 1, "timestamp": 1, "co2": 3},
                                    {"sensor_id": 2, "co2": 4}]
    assert decode(b'{"timestamp": 5, "humidity": 40}', "sensors/gh-7/readings", FILTERS) == [
        {"sensor_id": "gh-7", "timestamp": 5, "humidity": 40}]


def test_the_sensor_is_the_first_plus_level_of_the_matching_filter() -> None:
    assert sensor_from_topic("plant/line-2/m9/data", FILTERS) == "line-2"
    assert sensor_from_topic("sensors/a/b/readings", FILTERS) is None


@pytest.mark.parametrize(("payload", "topic", "reason"), [
    (b'{"temperature": 1', "sensors/1/readings", "not JSON"),
    (b"[]", "sensors/1/readings", "array"),
    (b"[1, 2]", "sensors/1/readings", "array"),
    (b"42", "sensors/1/readings", "int"),
    (b'{"temperature": 1}', "elsewhere", "no sensor_id"),
])
def test_what_can_never_be_a_reading(payload: bytes, topic: str, reason: str) -> None:
    with pytest.raises(BadPayload, match=reason):
        decode(payload, topic, FILTERS)


def test_line_protocol_is_what_is_not_json() -> None:
    assert line_protocol(b"w,sensor_id=1 t=2 1\n# note\n\nw,sensor_id=1 t=3 2\n") == (
        b"w,sensor_id=1 t=2 1\n# note\n\nw,sensor_id=1 t=3 2", 2)
    for json_like in (b'{"t": 1}', b" [1]", b"{broken", b"42", b'"text"'):
        assert line_protocol(json_like) is None
    for bad, reason in ((b"\xff\xfe", "not UTF-8"), (b"\n\n", "empty")):
        with pytest.raises(BadPayload, match=reason):
            line_protocol(bad)


def test_keys_follow_the_body_and_client_ids_the_topics() -> None:
    assert batch_key(b"same") == batch_key(b"same") != batch_key(b"other")
    assert default_client_id(["a/+", "b/#"]) == default_client_id(["b/#", "a/+"])
    assert default_client_id(["a/+"]) != default_client_id(["b/+"])
