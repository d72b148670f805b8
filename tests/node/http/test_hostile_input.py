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

import aiohttp
import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
