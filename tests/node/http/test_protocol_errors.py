"""Requests too malformed to reach a handler (aiohttp's parser refuses them) still get the
one JSON error shape, with the status a client expects, and the node keeps serving."""

from __future__ import annotations

import pytest

from lithair_node import api
from lithair_node.lab.local_cluster import LocalCluster
from tests.http_helpers import get, raw_exchange

HOST = b"Host: node\r\n"
BATCH = b"POST " + api.BATCHES.encode() + b" HTTP/1.1\r\n" + HOST + \
    b"Content-Type: application/json\r\n"
EMPTY_BATCH = b'{"readings": []}'

CASES = [
    ("bad HTTP version", b"GET /health HTTP/9.9\r\n" + HOST + b"\r\n", 400, api.BAD_REQUEST),
    ("space in the target", b"GET /hea lth HTTP/1.1\r\n" + HOST + b"\r\n", 400, api.BAD_REQUEST),
    ("NUL in a header", b"GET /health HTTP/1.1\r\n" + HOST + b"X-A: a\x00b\r\n\r\n", 400,
     api.BAD_REQUEST),
    ("newline in a header", b"GET /health HTTP/1.1\r\n" + HOST + b"X-A: a\nb\r\n\r\n", 400,
     api.BAD_REQUEST),
    ("chunk size zz", BATCH + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400,
     api.BAD_REQUEST),
    ("Content-Length abc", BATCH + b"Content-Length: abc\r\n\r\n{}", 400, api.BAD_REQUEST),
    ("Content-Length -5", BATCH + b"Content-Length: -5\r\n\r\n{}", 400, api.BAD_REQUEST),
    ("Content-Length of 20 digits", BATCH + b"Content-Length: " + b"9" * 20 + b"\r\n\r\n{}", 400,
     api.BAD_REQUEST),
    ("Content-Length and Transfer-Encoding",
     BATCH + b"Content-Length: 16\r\nTransfer-Encoding: chunked\r\n\r\n" + EMPTY_BATCH, 400,
     api.BAD_REQUEST),
    ("body longer than its Content-Length",
     BATCH + b"Content-Length: 2\r\n\r\n" + EMPTY_BATCH, 400, api.BAD_REQUEST),
    ("100 KB URL", b"GET /health?x=" + b"a" * 100_000 + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414,
     api.URI_TOO_LONG),
    ("100 KB header", b"GET /health HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 100_000 +
     b"\r\n\r\n", 431, api.HEADERS_TOO_LARGE),
    ("10 KB Idempotency-Key", BATCH + api.IDEMPOTENCY_KEY.encode() + b": " + b"k" * 10_000 +
     b"\r\nContent-Length: 16\r\n\r\n" + EMPTY_BATCH, 431, api.HEADERS_TOO_LARGE),
    ("500 headers", b"GET /health HTTP/1.1\r\n" + HOST +
     b"".join(b"X-Header-%d: v\r\n" % i for i in range(500)) + b"\r\n", 431,
     api.HEADERS_TOO_LARGE),
    # llhttp knows every registered method and refuses the rest before routing (so: not
    # the router's 405).
    ("unknown method BREW", b"BREW /health HTTP/1.1\r\n" + HOST + b"\r\n", 501,
     api.NOT_IMPLEMENTED),
]


@pytest.mark.parametrize(("payload", "status", "code"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_malformed_request_gets_the_json_error_shape(cluster: LocalCluster, payload: bytes,
                                                     status: int, code: str) -> None:
    answers = raw_exchange(cluster.specs[0].http_port, payload)
    # The node closes the connection after the error: it is the last answer (a request
    # whose body ran over may have had its own answer before it).
    answer = answers[-1]
    assert answer.status == status, answers
    assert answer.headers["Content-Type"].split(";")[0] == api.JSON_TYPE, answer
    assert set(answer.error) == {"code", "message", "reading", "field"}, answer
    assert answer.error["code"] == code, answer
    assert answer.error["message"], answer
    assert get(f"{cluster.urls[0]}/health").status == 200
