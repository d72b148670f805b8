"""Property-based hostile input against a real node: every answer is a 2xx or a 4xx with the
JSON error shape (never a 5xx or a dropped connection), the node stays up, and only what a
200 reported as accepted is ever stored."""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lithair_node import api
from lithair_node.lab.local_cluster import LocalCluster
from tests.cluster_fixtures import start_cluster
from tests.http_helpers import Answer, first_answer, get, post_raw, stats

ALLOWED = {200, 400, 413, 415, 422}
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "2024-01-01T00:00:00Z", "NaN", "9" * 400, "é" * 300]),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20)
field_names = st.one_of(st.sampled_from(["sensor_id", "timestamp", "location", "values",
                                         "temperature", "humidity", "t"]), st.text(max_size=70))
readings = st.dictionaries(field_names, json_values, max_size=6)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"readings": st.lists(readings, max_size=5)}),
    st.fixed_dictionaries({"readings": st.lists(st.fixed_dictionaries({
        "sensor_id": st.one_of(st.text(max_size=200), st.integers(), st.just("hostile")),
        "timestamp": st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=30)),
        "temperature": st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                 st.integers(min_value=-(2**1100), max_value=2**1100),
                                 st.booleans(), st.none()),
    }), min_size=1, max_size=5)}),
)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, dict]]:
    cluster = start_cluster(tmp_path_factory.mktemp("hostile"), nodes=1,
                            extra_args=("--body-timeout", "1"))
    ledger = {"accepted": 0}
    yield cluster, ledger
    try:
        assert get(f"{cluster.urls[0]}/health").status == 200
        assert stats(cluster.urls[0])["total_readings"] == ledger["accepted"]
    finally:
        cluster.stop()


def check(answer: Answer, ledger: dict) -> None:
    assert answer.status in ALLOWED, answer
    if answer.status == 200:
        ledger["accepted"] += answer.body["accepted"]
        return
    assert isinstance(answer.body, dict), answer
    error = answer.body["error"]
    assert set(error) == {"code", "message", "reading", "field"}
    assert isinstance(error["code"], str) and error["message"]


def encode_json(body: Any) -> bytes:
    return json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")


@SETTINGS
@given(body=bodies, encoding=st.sampled_from(["json", "msgpack"]))
def test_random_bodies(target, body: Any, encoding: str) -> None:
    cluster, ledger = target
    if encoding == "json":
        raw, content_type = encode_json(body), "application/json"
    else:
        try:
            raw = msgpack.packb(body, use_bin_type=True)
        except (OverflowError, ValueError, TypeError):
            return  # not representable in msgpack (e.g. a 2**70 int)
        content_type = "application/msgpack"
    check(post_raw(cluster.urls[0], raw, content_type), ledger)


@SETTINGS
@given(raw=st.binary(max_size=300), content_type=st.one_of(
    st.none(), st.sampled_from(["application/json", "application/msgpack", "text/plain",
                                "application/x-www-form-urlencoded", "application/json; charset=x",
                                "multipart/form-data", "*/*"])))
def test_random_bytes_and_content_types(target, raw: bytes, content_type: str | None) -> None:
    cluster, ledger = target
    check(post_raw(cluster.urls[0], raw, content_type), ledger)


@SETTINGS
@given(body=st.fixed_dictionaries({"readings": st.lists(readings, min_size=1, max_size=3)}),
       cut=st.integers(min_value=1, max_value=60))
def test_truncated_msgpack(target, body: Any, cut: int) -> None:
    cluster, ledger = target
    try:
        raw = msgpack.packb(body, use_bin_type=True)
    except (OverflowError, ValueError, TypeError):
        return
    check(post_raw(cluster.urls[0], raw[: max(0, len(raw) - cut)], "application/msgpack"), ledger)


def test_deep_nesting_and_huge_strings(target) -> None:
    cluster, ledger = target
    url = cluster.urls[0]
    depth = 100_000
    check(post_raw(url, b"[" * depth + b"]" * depth, "application/json"), ledger)
    check(post_raw(url, b"\x91" * depth + b"\xc0", "application/msgpack"), ledger)
    long_id = {"readings": [{"sensor_id": "x" * 1_000_000, "timestamp": 1, "t": 1.0}]}
    check(post_raw(url, json.dumps(long_id).encode(), "application/json"), ledger)
    tiny = {"readings": [{"sensor_id": "tiny", "timestamp": 1, "t": 5e-324, "u": -1.7e308}]}
    answer = post_raw(url, json.dumps(tiny).encode(), "application/json")
    assert answer.status == 200
    check(answer, ledger)
    nan = {"readings": [{"sensor_id": "n", "timestamp": 1, "t": math.nan}]}
    assert post_raw(url, json.dumps(nan).encode(), "application/json").status == 422


def test_many_small_requests_at_once(target) -> None:
    cluster, ledger = target
    url = cluster.urls[0]

    async def burst() -> list[int]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            async def one(i: int) -> int:
                body = {"readings": [{"sensor_id": f"burst-{i % 20}", "timestamp": i, "t": 1.0}]}
                async with session.post(f"{url}/api/v1/batches", json=body) as answer:
                    payload = await answer.json()
                    if answer.status == 200:
                        ledger["accepted"] += payload["accepted"]
                    else:
                        assert answer.headers.get("Retry-After"), payload
                    return answer.status
            return await asyncio.gather(*(one(i) for i in range(1500)))

    statuses = asyncio.run(burst())
    assert set(statuses) <= {200, 429, 503}, set(statuses)
    assert statuses.count(200) > 0


def raw_exchange(port: int, payload: bytes, pause_after_s: float | None = None) -> bytes:
    """Send raw bytes; read the whole answer (the server must close or answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(payload)
        chunks = []
        started = time.monotonic()
        while time.monotonic() - started < 20:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks) and pause_after_s is None:
                break
        return b"".join(chunks)


def test_slow_body_gets_408_and_oversized_headers_400(target) -> None:
    cluster, _ = target
    port = cluster.specs[0].http_port
    started = time.monotonic()
    answer = raw_exchange(port, b"POST /api/v1/batches HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"re")
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"code":"request_timeout"' in answer
    assert time.monotonic() - started < 15
    huge_header = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    answer = raw_exchange(port, huge_header)
    assert re.match(rb"HTTP/1\.[01] 4\d\d", answer), answer[:200]
    assert get(f"{cluster.urls[0]}/health").status == 200


def test_member_body_gets_the_write_body_timeout(target) -> None:
    cluster, _ = target
    answer = first_answer(cluster.specs[0].http_port,
                          b"POST /api/v1/members HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ra",
                          timeout_s=20)
    assert answer.status == 408, answer
    assert answer.error["code"] == "request_timeout", answer


def test_node_log_has_no_tracebacks(target) -> None:
    cluster, _ = target
    log = Path(cluster.specs[0].data_dir / "node.log").read_text()
    assert "Traceback" not in log, log[-3000:]
    assert "RuntimeWarning" not in log, log[-3000:]


# -- issue 13, sections 2 and 3, against a 3-node cluster -------------------------------------
# Each case gets its answer, then every node must be healthy, ready and agree (totals and
# digests): strict parsing never costs a node, and nothing refused is stored anywhere.

SUPERSCRIPTS = ["\u00b2", "1\u00b2", "\u0661", "\uff11", "9" * 5000]
PAST_THE_END = ["253402300800", "253402300800.0", "253402300799.9999999", "9999-12-31T23:59:60Z"]
NON_ASCII_TIMES = ["\uff12\uff10\uff12\uff14-01-01T00:00:00Z", "2024-01-01T00:00:0\u0660Z",
                   "\u0662024-01-01T00:00:00Z"]


def query_url(url: str, path: str, **params: str | list[str]) -> str:
    pairs = [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
    return f"{url}{path}?{urlencode(pairs, quote_via=quote)}"


def all_agree(cluster: LocalCluster) -> None:
    for url in cluster.urls:
        assert get(f"{url}{api.HEALTH}").status == 200
        assert get(f"{url}{api.READYZ}").status == 200
    converged = cluster.wait_converged()
    assert len({(s["total_readings"], s["state_digest"]) for s in converged}) == 1, converged


def refused(answer: Answer, status: int, code: str, field: str | None) -> None:
    assert answer.status == status, answer
    assert set(answer.error) == {"code", "message", "reading", "field"}, answer
    assert (answer.error["code"], answer.error["field"]) == (code, field), answer


@pytest.fixture(scope="module")
def written(cluster: LocalCluster) -> LocalCluster:
    body = {"readings": [{"sensor_id": "hostile-13", "timestamp": 1, "t": 1.0}]}
    assert post_raw(cluster.urls[0], json.dumps(body).encode(), api.JSON_TYPE).status == 200
    return cluster


@pytest.mark.parametrize("text", SUPERSCRIPTS)
@pytest.mark.parametrize(("path", "name"), [
    (api.SENSORS, "limit"), (api.sensor_path(api.SENSOR_READINGS, "hostile-13"), "limit"),
    (api.sensor_path(api.SENSOR_READINGS, "hostile-13"), "cursor"), (api.ANOMALIES, "limit"),
])
def test_query_integers_must_be_ascii(written: LocalCluster, path: str, name: str, text: str) -> None:
    refused(get(query_url(written.urls[1], path, **{name: text})), 400, api.INVALID_PARAMETER, name)
    all_agree(written)


@pytest.mark.parametrize("text", PAST_THE_END + NON_ASCII_TIMES)
@pytest.mark.parametrize(("path", "name"), [
    (api.sensor_path(api.SENSOR_READINGS, "hostile-13"), "from"),
    (api.sensor_path(api.SENSOR_STATS, "hostile-13"), "to"), (api.EXPORT, "from"),
    (api.ANOMALIES, "since"),
])
def test_query_times_past_the_end_or_not_ascii(written: LocalCluster, path: str, name: str,
                                               text: str) -> None:
    refused(get(query_url(written.urls[2], path, **{name: text})), 400, api.INVALID_PARAMETER, name)
    all_agree(written)


@pytest.mark.parametrize("stamp", [253402300800.0, 253402300800, *NON_ASCII_TIMES,
                                   "9999-12-31T23:59:60Z"])
@pytest.mark.parametrize("shape", ["rows", "columns"])
def test_body_timestamps_past_the_end_or_not_ascii(written: LocalCluster, stamp: object,
                                                   shape: str) -> None:
    body = ({"readings": [{"sensor_id": "h13-ts", "timestamp": stamp, "t": 1.0}]} if shape == "rows"
            else {"columns": {"sensor_id": ["h13-ts"], "timestamp": [stamp], "t": [1.0]}})
    for raw, kind in ((json.dumps(body).encode(), api.JSON_TYPE),
                      (msgpack.packb(body), api.MSGPACK_TYPE)):
        answer = post_raw(written.urls[0], raw, kind)
        refused(answer, 422, api.INVALID_READING, "timestamp")
    all_agree(written)
    assert get(f"{written.urls[0]}{api.sensor_path(api.SENSOR_LATEST, 'h13-ts')}").status == 404


def test_a_leap_second_is_the_next_second(written: LocalCluster) -> None:
    body = {"readings": [{"sensor_id": "h13-leap", "timestamp": "2016-12-31T23:59:60.5Z", "t": 1.0}]}
    assert post_raw(written.urls[0], json.dumps(body).encode(), api.JSON_TYPE).status == 200
    latest = get(query_url(written.urls[1], api.sensor_path(api.SENSOR_LATEST, "h13-leap"),
                           consistency="linearizable"))
    assert latest.body["timestamp"] == "2017-01-01T00:00:00.500000Z", latest
    all_agree(written)


@pytest.mark.parametrize(("raw", "key"), [
    (b'{"readings": [{"sensor_id": "h13-dup", "timestamp": 1, "t": 1, "t": 2}]}', "t"),
    (b'{"readings": [{"sensor_id": "h13-dup", "sensor_id": "x", "timestamp": 1, "t": 1}]}', "sensor_id"),
    (b'{"readings": [{"sensor_id": "h13-dup", "timestamp": 1, "values": {"t": 1, "t" : 1}}]}', "t"),
    (b'{"columns": {"sensor_id": ["h13-dup"], "timestamp": [1], "t": [1]}, "columns": {}}', "columns"),
])
def test_duplicate_keys_are_422_naming_the_key(written: LocalCluster, raw: bytes, key: str) -> None:
    refused(post_raw(written.urls[2], raw, api.JSON_TYPE), 422, api.INVALID_BATCH, key)
    all_agree(written)
    assert get(f"{written.urls[2]}{api.sensor_path(api.SENSOR_LATEST, 'h13-dup')}").status == 404


def test_a_byte_order_mark_is_ignored(written: LocalCluster) -> None:
    body = b'\xef\xbb\xbf{"readings": [{"sensor_id": "h13-bom", "timestamp": 5, "t": 2.5}]}'
    assert post_raw(written.urls[1], body, api.JSON_TYPE).body["accepted"] == 1
    refused(post_raw(written.urls[1], b"\xef\xbb\xbf{", api.JSON_TYPE), 400, api.INVALID_JSON, None)
    assert "NaN" not in post_raw(written.urls[1], b"\xef\xbb\xbf{", api.JSON_TYPE).error["message"]
    all_agree(written)


def test_aggregates_stay_finite_near_the_float64_limit(written: LocalCluster) -> None:
    values = [1.7e308] * 40 + [-1.7e308]
    body = {"readings": [{"sensor_id": "h13-big", "timestamp": i, "x": v} for i, v in enumerate(values)]}
    assert post_raw(written.urls[0], json.dumps(body).encode(), api.JSON_TYPE).status == 200
    all_agree(written)
    mean = 1.7e308 / 41 * 39
    for url in written.urls:  # running aggregates, computed by apply on every node
        for params in ({}, {"from": "0"}):
            stats_url = query_url(url, api.sensor_path(api.SENSOR_STATS, "h13-big"), **params)
            row = get(stats_url).body["metrics"]["x"]
            assert row["mean"] == pytest.approx(mean, rel=1e-12), row
            assert row["stddev"] is None and row["overflow"] == ["stddev"], row
        (bucket,) = get(query_url(url, api.AGGREGATE, metric="x", every="1d", sensor_id="h13-big",
                                  fn="mean,sum,count")).body["buckets"]
        assert bucket["mean"] == pytest.approx(mean, rel=1e-12) and bucket["count"] == 41
        assert bucket["sum"] is None and bucket["overflow"] == ["sum"], bucket


@pytest.mark.parametrize("sensor", ["{x}", "}{", "a,b", " pad ", "100%", "a/b"])
def test_every_accepted_id_is_routable_and_selectable(written: LocalCluster, sensor: str) -> None:
    body = {"readings": [{"sensor_id": sensor, "timestamp": 7, "t": 3.0}]}
    assert post_raw(written.urls[0], json.dumps(body).encode(), api.JSON_TYPE).status == 200
    url = written.urls[0]
    assert get(f"{url}{api.sensor_path(api.SENSOR_LATEST, sensor)}").body["sensor_id"] == sensor
    found = get(query_url(url, api.LATEST, sensor_id=[sensor, "hostile-13"])).body
    assert sorted(r["sensor_id"] for r in found["sensors"]) == sorted([sensor, "hostile-13"])
    assert found["unknown_sensors"] == []
    all_agree(written)
