"""`Expect: 100-continue` on real nodes: a write the node refuses (token, no leader, too
large) is answered in the JSON error shape before any 100 Continue, so its body is never
sent; an admitted one gets its 100, then stores its readings; an unknown expectation is a
417. Raw sockets show exactly what the node sent before the final answer."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import aiohttp
import pytest

from lithair_node import api
from lithair_node.client.cluster_client import ACKED, ClusterClient
from lithair_node.client.node_api import ApiError, NodeApi
from lithair_node.lab.local_cluster import LocalCluster
from tests.http_helpers import leaderless_cluster, stats, wait_for

TOKEN = "expect-secret"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@pytest.fixture(scope="module")
def leaderless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with leaderless_cluster(tmp_path_factory.mktemp("leaderless"), "--token", TOKEN) as cluster:
        yield cluster


def _head(path: str, length: int, *, expect: str = "100-continue", token: str | None = None,
          method: str = "POST", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: node", "Content-Type: application/json",
             f"Content-Length: {length}", f"Expect: {expect}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_answer(sock: socket.socket, stream: bytes = b"") -> tuple[int, dict[str, str], bytes, bytes]:
    """(status, headers, body, what followed) of the next final answer on `sock`."""
    while True:
        head, sep, rest = stream.partition(b"\r\n\r\n")
        if sep:
            status_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines)}
            length = int(headers.get("content-length", "0"))
            if len(rest) >= length:
                return int(status_line.split(" ")[1]), headers, rest[:length], rest[length:]
        chunk = sock.recv(65536)
        assert chunk, f"the node closed the connection without an answer: {stream!r}"
        stream += chunk


def _refused_before_body(port: int, head: bytes) -> tuple[int, dict[str, str], dict]:
    """Send headers only; the node's first bytes must be the final answer (no 100), and it
    must close the connection after it (the body was never sent)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        first = sock.recv(65536)
        assert not first.startswith(b"HTTP/1.1 100"), first
        status, headers, body, rest = _read_answer(sock, first)
        assert rest == b"", rest
        assert headers.get("connection") == "close", headers
    return status, headers, json.loads(body)


def _batch(prefix: str, count: int) -> bytes:
    readings = [{"sensor_id": f"{prefix}-{i % 7}", "timestamp": 1_700_000_000 + i,
                 "temperature": 20.0 + i} for i in range(count)]
    return json.dumps({"readings": readings}).encode()


def test_no_leader_is_refused_before_the_body(leaderless: LocalCluster) -> None:
    status, headers, body = _refused_before_body(
        leaderless.specs[0].http_port, _head(api.BATCHES, 100_000, token=TOKEN))
    assert status == 503 and body["error"]["code"] == api.NO_LEADER, body
    assert headers["retry-after"] == "1", headers


def test_a_missing_token_is_refused_before_the_body(leaderless: LocalCluster) -> None:
    status, _, body = _refused_before_body(leaderless.specs[0].http_port,
                                           _head(api.BATCHES, 100_000))
    assert status == 401 and body["error"]["code"] == api.UNAUTHORIZED, body


def test_a_body_over_the_limit_is_refused_before_it_is_sent(cluster: LocalCluster) -> None:
    status, _, body = _refused_before_body(cluster.specs[0].http_port,
                                           _head(api.BATCHES, 64 * 1024 * 1024))
    assert status == 413 and body["error"]["code"] == api.PAYLOAD_TOO_LARGE, body


@pytest.mark.parametrize("expect", ["banana", "100-continue, foo"])
@pytest.mark.parametrize("path", [api.BATCHES, api.MEMBERS])
def test_an_unknown_expectation_is_a_417(cluster: LocalCluster, path: str,
                                         expect: str) -> None:
    status, _, body = _refused_before_body(cluster.specs[0].http_port, _head(path, 10, expect=expect))
    assert status == 417, body
    assert body["error"] == {"code": "expectation_failed", "field": "Expect", "reading": None,
                             "message": body["error"]["message"]}


@pytest.mark.parametrize(("method", "path", "expect", "status", "code"), [
    ("POST", "/api/v1/nope", "banana", 417, "expectation_failed"),
    ("POST", "/api/v1/nope", "100-continue", 404, api.NOT_FOUND),
    ("PUT", api.BATCHES, "100-continue", 405, api.METHOD_NOT_ALLOWED),
])
def test_a_path_no_route_takes_answers_before_the_body_in_the_error_shape(
        cluster: LocalCluster, method: str, path: str, expect: str, status: int,
        code: str) -> None:
    """aiohttp's own system route answered these: a plain-text 417, or a 100 Continue
    before its 404/405 (unmatched.py)."""
    got, headers, body = _refused_before_body(
        cluster.specs[0].http_port, _head(path, 10, expect=expect, method=method))
    assert got == status and body["error"]["code"] == code, body
    assert headers["content-type"].split(";")[0] == api.JSON_TYPE, headers
    if status == 405:
        assert headers["allow"] == "POST", headers


def test_an_admitted_write_gets_its_100_then_stores_the_readings(cluster: LocalCluster) -> None:
    url, port = cluster.urls[0], cluster.specs[0].http_port
    before = stats(url)["total_readings"]
    body = _batch("expect-raw", 50)
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(_head(api.BATCHES, len(body)))
        interim = b""
        while len(interim) < len(CONTINUE):
            chunk = sock.recv(len(CONTINUE) - len(interim))
            assert chunk, interim
            interim += chunk
        assert interim == CONTINUE
        sock.sendall(body)
        status, headers, answer, _ = _read_answer(sock)
    assert status == 200, answer
    assert json.loads(answer)["accepted"] == 50
    assert headers.get("connection") != "close", headers  # the connection stays usable
    wait_for(lambda: all(stats(u)["total_readings"] >= before + 50 for u in cluster.urls),
             what="every node stores the batch")


def test_http_1_0_ignores_the_expectation(cluster: LocalCluster) -> None:
    body = _batch("expect-http10", 5)
    with socket.create_connection(("127.0.0.1", cluster.specs[0].http_port), timeout=15) as sock:
        sock.sendall(_head(api.BATCHES, len(body), version="1.0") + body)
        status, _, answer, _ = _read_answer(sock)
    assert status == 200 and json.loads(answer)["accepted"] == 5, answer


async def _post_both(refusing: str, accepting: str) -> tuple[ApiError, dict, list]:
    async with aiohttp.ClientSession() as session:
        try:
            await NodeApi(refusing, session, token=TOKEN).post_batch(
                _batch("expect-aiohttp", 10), api.JSON_TYPE, "k-refused", timeout_s=5, expect100=True)
        except ApiError as exc:
            refused = exc
        else:
            raise AssertionError("the leaderless node accepted a write")
        acked = await NodeApi(accepting, session).post_batch(
            _batch("expect-aiohttp", 10), api.JSON_TYPE, "k-accepted", timeout_s=5, expect100=True)
    # ClusterClient: refused by the leaderless node (503), then acked by the cluster; every
    # batch is stored once whatever the refusals.
    async with ClusterClient([refusing, accepting], token=TOKEN, encoding="json",
                             backoff_s=0.01, expect_after_refusal=True) as client:
        results = await asyncio.gather(*(
            client.post_batch(json.loads(_batch(f"expect-cc{n}", 20))["readings"],
                              key=f"expect-cc-{n}", url=refusing) for n in range(8)))
        # Refused last time: this one holds its body back for a 100 that never comes.
        assert client.expects_continue(refusing)
        results.append(await client.post_batch(json.loads(_batch("expect-cc8", 20))["readings"],
                                               key="expect-cc-8", url=refusing))
    return refused, acked, results


def test_aiohttp_clients_with_expect(leaderless: LocalCluster, cluster: LocalCluster) -> None:
    url = cluster.urls[0]
    before = stats(url)["total_readings"]
    refused, acked, results = asyncio.run(_post_both(leaderless.urls[0], url))
    assert refused.status == 503 and refused.code == api.NO_LEADER and refused.retry_after == 1
    assert acked["accepted"] == 10
    assert all(r.status == ACKED and r.attempts == 2 for r in results), [r.history for r in results]
    assert all(r.trail[0].status == 503 for r in results)
    wait_for(lambda: all(stats(u)["total_readings"] == before + 10 + 9 * 20 for u in cluster.urls),
             what="every acked reading on every node, once")
