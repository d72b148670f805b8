"""Tiny synchronous HTTP helpers for tests (urllib: no extra client dependency)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from lithair_node import api
from lithair_node.lab.local_cluster import LocalCluster, http_json
from lithair_node.polling import wait_until


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error(self) -> dict[str, Any]:
        return self.body["error"]


def request(method: str, url: str, data: bytes | None = None,
            headers: dict[str, str] | None = None, timeout_s: float = 15.0) -> Answer:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as response:
            raw = response.read()
            return Answer(response.status, _decode(raw), dict(response.headers))
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return Answer(exc.code, _decode(raw), dict(exc.headers))


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw


def get(url: str, **kwargs: Any) -> Answer:
    return request("GET", url, **kwargs)


def post_json(url: str, body: Any, key: str | None = None, headers: dict[str, str] | None = None,
              timeout_s: float = 15.0) -> Answer:
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if key:
        all_headers["Idempotency-Key"] = key
    return request("POST", f"{url}/api/v1/batches", json.dumps(body).encode(), all_headers,
                   timeout_s)


def post_raw(url: str, data: bytes, content_type: str | None,
             headers: dict[str, str] | None = None) -> Answer:
    all_headers = dict(headers or {})
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    return request("POST", f"{url}/api/v1/batches", data, all_headers)


def post_msgpack(url: str, body: Any, key: str | None = None) -> Answer:
    headers = {"Idempotency-Key": key} if key else {}
    return post_raw(url, msgpack.packb(body, use_bin_type=True), "application/msgpack", headers)


def stats(url: str) -> dict[str, Any]:
    answer = get(f"{url}/api/v1/stats")
    assert answer.status == 200, answer
    return answer.body


def wait_for(predicate: Any, timeout_s: float = 30.0, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something true, and return that (wait_until with
    the tests' default timeout)."""
    return wait_until(predicate, timeout_s, what=what)


def raw_exchange(port: int, payload: bytes, timeout_s: float = 15.0) -> list[Answer]:
    """Send raw bytes on a new connection to 127.0.0.1:`port` and read until the node closes
    it (it does after every error): each answer it sent, in order."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(payload)
        stream = b""
        while chunk := sock.recv(65536):
            stream += chunk
    answers = []
    while stream:
        parsed = _parse_answer(stream)
        assert parsed is not None, f"a truncated answer: {stream[:200]!r}"
        answer, stream = parsed
        answers.append(answer)
    return answers


def first_answer(port: int, payload: bytes, timeout_s: float = 15.0) -> Answer:
    """Send raw bytes (e.g. headers promising a body that never comes) and return the first
    answer as soon as it is whole, without waiting for the node to close the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(payload)
        stream = b""
        while (parsed := _parse_answer(stream)) is None:
            chunk = sock.recv(65536)
            assert chunk, f"the node closed the connection without an answer: {stream!r}"
            stream += chunk
    return parsed[0]


def _parse_answer(stream: bytes) -> tuple[Answer, bytes] | None:
    """The first answer in `stream` and what follows it; None until it is whole."""
    head, separator, rest = stream.partition(b"\r\n\r\n")
    if not separator:
        return None
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    length = int(headers.get("Content-Length", "0"))
    if len(rest) < length:
        return None
    answer = Answer(int(status_line.split(" ")[1]), _decode(rest[:length]), headers)
    return answer, rest[length:]


@contextmanager
def leaderless_cluster(base: Path, *extra_args: str) -> Iterator[LocalCluster]:
    """One node of three, the others never started: it never has a leader."""
    cluster = LocalCluster(base, nodes=3, extra_args=extra_args)
    cluster.start_node(0)
    try:
        wait_for(lambda: http_json(f"{cluster.urls[0]}{api.HEALTH}")[0] == 200, 60,
                 what="the lone node answers")
        yield cluster
    finally:
        cluster.stop()
