"""Bad input gets a 4xx with the one JSON error shape; nothing is stored; the node lives."""

from __future__ import annotations

import json

import msgpack
import pytest

from lithair_node.lab.local_cluster import LocalCluster
from tests.http_helpers import get, post_json, post_raw, stats

GOOD = {"sensor_id": "bad-input", "timestamp": "2024-05-01T00:00:00Z", "temperature": 21.0}


def assert_error(answer, status: int, code: str | None = None, field: str | None = None,
                 reading: int | None = None) -> None:
    assert answer.status == status, answer
    assert set(answer.error) == {"code", "message", "reading", "field"}
    assert answer.error["message"]
    if code is not None:
        assert answer.error["code"] == code
    if field is not None:
        assert answer.error["field"] == field
    assert answer.error["reading"] == reading


@pytest.fixture
def url_and_baseline(cluster: LocalCluster):
    url = cluster.urls[0]
    assert post_json(url, {"readings": [GOOD]}).status == 200
    cluster.wait_converged()
    yield url, stats(url)
    # The node survived whatever the test sent.
    assert get(f"{url}/health").status == 200


def bad(field: str, value: object) -> dict[str, object]:
    return {"readings": [GOOD, {**GOOD, "timestamp": 5, field: value}]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (bad("temperature", True), "temperature"),
        (bad("temperature", "hot"), "temperature"),
        (bad("sensor_id", ""), "sensor_id"),
        (bad("timestamp", "31/12/2024"), "timestamp"),
        (bad("timestamp", -3), "timestamp"),
        (bad("unexpected", {"nested": 1}), "unexpected"),
    ],
)
def test_invalid_readings_are_422_and_name_the_field(url_and_baseline, body, field) -> None:
    url, before = url_and_baseline
    assert_error(post_json(url, body), 422, "invalid_reading", field, reading=1)
    assert stats(url)["total_readings"] == before["total_readings"]


def test_nan_is_refused_with_its_field(url_and_baseline) -> None:
    url, before = url_and_baseline
    raw = json.dumps(bad("temperature", float("nan"))).encode()  # json emits NaN
    assert_error(post_raw(url, raw, "application/json"), 422, "invalid_reading", "temperature", 1)
    raw = msgpack.packb(bad("humidity", float("inf")))
    assert_error(post_raw(url, raw, "application/msgpack"), 422, "invalid_reading", "humidity", 1)
    assert stats(url)["total_readings"] == before["total_readings"]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b'{"readings": [', "application/json", 400, "invalid_json"),
        (b"\xc1\x00", "application/msgpack", 400, "invalid_msgpack"),
        (b'{"readings": []}', "text/plain", 415, "unsupported_media_type"),
        (b'{"readings": []}', None, 415, "unsupported_media_type"),
        (b'{"readings": []}', "application/json", 422, "invalid_batch"),
        (b'{"readings": [], "x": 1}', "application/json", 422, "invalid_batch"),
        (b"[1, 2]", "application/json", 422, "invalid_batch"),
    ],
)
def test_malformed_bodies(url_and_baseline, data, content_type, status, code) -> None:
    url, before = url_and_baseline
    answer = post_raw(url, data, content_type)
    assert answer.status == status, answer
    assert answer.error["code"] == code
    assert stats(url)["total_readings"] == before["total_readings"]


def test_oversized_batches_are_413(url_and_baseline) -> None:
    url, before = url_and_baseline
    many = {"readings": [{**GOOD, "timestamp": i} for i in range(10_001)]}
    assert_error(post_json(url, many), 413, "too_many_readings", "readings")
    huge = b'{"readings": [' + b" " * (9 * 1024 * 1024) + b"]}"
    answer = post_raw(url, huge, "application/json")
    assert answer.status == 413 and answer.error["code"] == "payload_too_large"
    assert stats(url)["total_readings"] == before["total_readings"]


def test_bad_idempotency_key_and_unknown_route(url_and_baseline) -> None:
    url, _ = url_and_baseline
    answer = post_json(url, {"readings": [GOOD]}, headers={"Idempotency-Key": "é" * 3})
    assert answer.status == 400 and answer.error["field"] == "Idempotency-Key"
    assert get(f"{url}/api/v1/nope").error["code"] == "not_found"
    not_allowed = get(f"{url}/api/v1/batches")
    assert not_allowed.status == 405 and not_allowed.error["code"] == "method_not_allowed"
