"""InfluxDB's write APIs on a live 3-node cluster with a write token: its official clients
write unchanged, curl-style bodies (gzip too), InfluxDB's error shape, auth forms, retries."""

from __future__ import annotations

import base64
import gzip
import http.client
import itertools
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS, WriteOptions
from influxdb_client_3 import InfluxDBClient3

from lithair_node.lab.local_cluster import LocalCluster
from tests.cluster_fixtures import start_cluster
from tests.http_helpers import Answer, get, post_json, request

TOKEN = "lp-write-secret"
MAX_BODY = 256 * 1024
_unique = itertools.count()


@pytest.fixture(scope="module")
def influx_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path_factory.mktemp("influx"),
                            extra_args=("--token", TOKEN, "--max-body-bytes", str(MAX_BODY)))
    yield running
    running.stop()


def sensor(prefix: str) -> str:
    return f"{prefix}-{next(_unique)}"


def write_v2(url: str, body: bytes, *, query: str = "org=o&bucket=b",
             headers: dict[str, str] | None = None) -> Answer:
    return request("POST", f"{url}/api/v2/write?{query}", body,
                   {"Authorization": f"Token {TOKEN}", **(headers or {})})


def readings_of(url: str, sensor_id: str) -> list[dict]:
    answer = get(f"{url}/api/v1/sensors/{sensor_id}/readings?consistency=linearizable")
    assert answer.status == 200, answer
    return answer.body["readings"]


def test_influxdb_client_synchronous_write_reads_back_on_another_node(influx_cluster) -> None:
    first, second = influx_cluster.urls[0], influx_cluster.urls[1]
    mote = sensor("sync")
    points = [Point("weather").tag("sensor_id", mote).tag("location", "north")
              .field("temperature", 20.0 + i).field("ok", True).field("count", i)
              .time(1_700_000_000_000 + i, WritePrecision.MS) for i in range(5)]
    with InfluxDBClient(url=first, token=TOKEN, org="my-org") as client:
        client.write_api(write_options=SYNCHRONOUS).write(bucket="sensors", record=points)
    stored = readings_of(second, mote)
    assert [r["timestamp_us"] for r in stored] == [(1_700_000_000_000 + i) * 1000 for i in range(5)]
    assert stored[2]["values"] == {"temperature": 22.0, "ok": 1.0, "count": 2.0}
    latest = get(f"{second}/api/v1/sensors/{mote}/latest").body
    assert latest["location"] == "north"


def test_influxdb_client_batching_write_flushes_everything(influx_cluster) -> None:
    mote = sensor("batching")
    options = WriteOptions(batch_size=250, flush_interval=200, max_retries=3)
    with InfluxDBClient(url=influx_cluster.urls[2], token=TOKEN, org="my-org") as client, \
            client.write_api(write_options=options) as write_api:
        for i in range(1_000):
            write_api.write(bucket="sensors", record=f"m,sensor_id={mote} v={i} {1_700_000_000 + i}",
                            write_precision=WritePrecision.S)
    stored = readings_of(influx_cluster.urls[0], mote)
    assert [r["values"]["v"] for r in stored] == [float(i) for i in range(1_000)]


def test_influxdb3_python_writes_unchanged(influx_cluster) -> None:
    mote = sensor("v3")
    with InfluxDBClient3(host=influx_cluster.urls[1], token=TOKEN, database="sensors",
                         org="my-org") as client:
        client.write(record=f"m,device_id={mote} humidity=55.5 1700000000000000000")
    stored = readings_of(influx_cluster.urls[2], mote)
    assert [(r["timestamp_us"], r["values"]) for r in stored] == [
        (1_700_000_000_000_000, {"humidity": 55.5})]


def test_curl_style_gzip_v2_and_v1_with_precision(influx_cluster) -> None:
    url = influx_cluster.urls[0]
    mote = sensor("curl")
    body = f"# a comment\nm,sensor_id={mote} v=1,n=2i 1700000000\n\nm,sensor_id={mote} v=2 1700000001\n"
    v2 = write_v2(url, gzip.compress(body.encode()), query="org=o&bucket=b&precision=s",
                  headers={"Content-Encoding": "gzip"})
    assert (v2.status, v2.body) == (204, None)
    v1 = request("POST", f"{url}/write?" + urlencode({"db": "d", "precision": "ms", "u": "me", "p": TOKEN}),
                 f"m,sensor_id={mote} v=3 1700000002000".encode())
    assert (v1.status, v1.body) == (204, None)
    assert [r["values"]["v"] for r in readings_of(url, mote)] == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("bad_line", [
    "m,sensor_id=x",  # no fields
    "m,sensor_id=x v=abc",  # not a value
    "m,sensor_id=x v=1.5i",  # not an integer
    "m,sensor_id=x v=1 12:00",  # not a timestamp
    "m,sensor_id=x,sensor_id=y v=1",  # a repeated tag
    "m,sensor_id=x v=1 1 2",  # trailing text
    'm,sensor_id=x name="boiler"',  # a string field: Lithair stores numbers only
])
def test_bad_lines_get_influxdb_error_shape_naming_the_line(influx_cluster, bad_line: str) -> None:
    body = f"m,sensor_id=ok v=1 1\nm,sensor_id=ok v=2 2\n{bad_line}\n".encode()
    answer = write_v2(influx_cluster.urls[1], body)
    assert answer.status == 400, answer
    assert answer.body["code"] == "invalid"
    assert "line 3:" in answer.body["message"], answer.body


def test_v1_errors_are_v1_shaped(influx_cluster) -> None:
    answer = request("POST", f"{influx_cluster.urls[0]}/write?p={TOKEN}", b"m,sensor_id=a v=1")
    assert answer.status == 400
    assert answer.body == {"error": "database is required"}
    assert answer.headers["X-Influxdb-Error"] == "database is required"
    precision = request("POST", f"{influx_cluster.urls[0]}/write?db=d&precision=ns&p={TOKEN}", b"m v=1")
    assert precision.status == 400 and "precision" in precision.body["error"]


def test_413_applies_to_the_decompressed_body(influx_cluster) -> None:
    body = "".join(f"m,sensor_id=big,location=far-away v=1 {i}\n" for i in range(9_000)).encode()
    packed = gzip.compress(body)
    assert len(packed) < MAX_BODY < len(body)
    answer = write_v2(influx_cluster.urls[0], packed, headers={"Content-Encoding": "gzip"})
    assert answer.status == 413, answer
    assert answer.body["code"] == "request too large"
    assert get(f"{influx_cluster.urls[0]}/api/v1/sensors/big/latest").status == 404


def test_a_retry_stores_nothing_twice(influx_cluster) -> None:
    first, second = influx_cluster.urls[0], influx_cluster.urls[2]
    mote = sensor("retry")
    body = "".join(f"m,sensor_id={mote} v={i} {i}000000000\n" for i in range(1, 11)).encode()
    for url in (first, second):  # the same Idempotency-Key, to two nodes
        assert write_v2(url, body, headers={"Idempotency-Key": f"key-{mote}"}).status == 204
    assert write_v2(first, body).status == 204  # no key: (sensor, timestamp) dedup
    assert len(readings_of(second, mote)) == 10
    changed = write_v2(first, body + b"m,sensor_id=z v=1 1\n", headers={"Idempotency-Key": f"key-{mote}"})
    assert changed.status == 422 and changed.body["code"] == "unprocessable entity"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("authorization", "query"), [
    (f"Token {TOKEN}", ""),
    (f"Bearer {TOKEN}", ""),
    (_basic("anyone", TOKEN), ""),
    (f"Token anyone:{TOKEN}", ""),
    (None, f"&u=anyone&p={TOKEN}"),
])
def test_every_influxdb_auth_form_is_accepted(influx_cluster, authorization: str | None, query: str) -> None:
    mote = sensor("auth")
    headers = {"Authorization": authorization} if authorization else {}
    for path in (f"/api/v2/write?bucket=b{query}", f"/write?db=d{query}"):
        answer = request("POST", f"{influx_cluster.urls[0]}{path}", f"m,sensor_id={mote} v=1".encode(),
                         headers)
        assert answer.status == 204, (path, answer)


@pytest.mark.parametrize("authorization", [None, "Token wrong", _basic("u", "wrong"), "Basic %%%"])
def test_a_missing_or_wrong_token_is_401_in_influxdb_shape(influx_cluster, authorization) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = request("POST", f"{influx_cluster.urls[0]}/api/v2/write?bucket=b", b"m,sensor_id=a v=1",
                     headers)
    assert answer.status == 401 and answer.body["code"] == "unauthorized", answer


def test_token_works_on_every_route_and_influx_only_forms_only_on_influx_routes(influx_cluster) -> None:
    url = influx_cluster.urls[0]
    reading = {"readings": [{"sensor_id": sensor("batch"), "timestamp": 1, "v": 1.0}]}
    assert post_json(url, reading, headers={"Authorization": f"Token {TOKEN}"}).status == 200
    refused = post_json(url, reading, headers={"Authorization": _basic("u", TOKEN)})
    assert refused.status == 401 and refused.error["code"] == "unauthorized"


@pytest.mark.parametrize("value", ["Bearer \xe9t\xe9".encode(), b"Bearer \xff\xfe", "Token 令牌".encode()])
@pytest.mark.parametrize("path", ["/api/v1/batches", "/api/v2/write?bucket=b"])
def test_a_non_ascii_authorization_header_is_401_not_500(influx_cluster, value: bytes, path: str) -> None:
    parts = urlsplit(influx_cluster.urls[0])
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Authorization", value)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", "2")
        connection.endheaders(b"{}")
        response = connection.getresponse()
        assert response.status == 401, response.read()
        assert b"unauthorized" in response.read()
    finally:
        connection.close()
    assert get(f"{influx_cluster.urls[0]}/health").status == 200


def test_lp_sensor_tag_is_configurable(tmp_path: Path) -> None:
    running = start_cluster(tmp_path, nodes=1, extra_args=("--lp-sensor-tag", "station"))
    try:
        url = running.urls[0]
        answer = request("POST", f"{url}/api/v2/write?bucket=b", b"m,station=s9,host=h1 v=1 5000")
        assert answer.status == 204, answer
        assert get(f"{url}/api/v1/sensors/s9/latest").status == 200
        assert get(f"{url}/api/v1/sensors/h1/latest").status == 404
    finally:
        running.stop()
