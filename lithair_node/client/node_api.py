"""The one HTTP client of a node's API: a typed call per route, over an aiohttp session.

Paths, headers and error codes come from `lithair_node.api`. An answer other than 200
raises `ApiError`, parsed from the JSON error shape `{"error": {"code", "message"}}`; when
no usable answer comes back (no connection, a timeout, a dropped or garbled answer) a call
raises one of `NO_ANSWER`. Blocking code uses the same calls through blocking_api.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from aiohttp import hdrs

from lithair_node import api

# What a call raises when no usable answer came back.
_LINE_PROTOCOL_TYPE = "text/plain; charset=utf-8"  # the node takes any type on this route
NO_ANSWER: tuple[type[Exception], ...] = (aiohttp.ClientError, TimeoutError, ValueError)


class ApiError(Exception):
    """A node answered, but not 200."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None,
                 body: Any = None) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code  # "" when the body is not the JSON error shape (a proxy, aiohttp itself)
        self.message = message
        self.retry_after = retry_after  # seconds, from the Retry-After header
        self.body = body  # the decoded JSON body, or None

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}" if self.code else f"HTTP {self.status}"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # decoded JSON; None when the body is not JSON or could not be read
    retry_after: float | None

    def json(self) -> Any:
        """The body of a 200; ApiError otherwise."""
        if self.status == 200:
            return self.body
        error = self.body.get("error") if isinstance(self.body, dict) else None
        if not isinstance(error, dict):
            error = {}
        raise ApiError(self.status, str(error.get("code", "")), str(error.get("message", "")),
                       self.retry_after, self.body)


class NodeApi:
    """One node's API at `url`. Cheap to make: it holds no connection of its own, the
    session (owned by the caller) does."""

    def __init__(self, url: str, session: aiohttp.ClientSession, *, token: str | None = None,
                 timeout_s: float = 2.0) -> None:
        self.url = url.rstrip("/")
        self.session = session
        self.token = token
        self.timeout_s = timeout_s

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        sent = dict(headers or {})
        if self.token:
            sent[api.AUTHORIZATION] = f"Bearer {self.token}"
        return sent

    async def request(self, method: str, path: str, *, data: bytes | None = None,
                      headers: dict[str, str] | None = None,
                      timeout_s: float | None = None, expect100: bool = False) -> Answer:
        """One exchange, whatever the status; raises only when no answer came back.
        `expect100`: send `Expect: 100-continue` and the body only once the node asks for
        it, so that a refusal (429/503/401/413) costs neither side the body."""
        sent = self._headers(headers)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s if timeout_s is None else timeout_s)
        async with self.session.request(method, f"{self.url}{path}", data=data, headers=sent,
                                        timeout=timeout, expect100=expect100) as response:
            return await _answer(response)

    async def download(self, path: str, sink: Callable[[bytes], object],
                       chunk_bytes: int = 1 << 20) -> int:
        """GET `path` and hand its body to `sink` chunk by chunk (never whole); returns the
        bytes received. ApiError unless 200; `timeout_s` bounds each read, not the total."""
        sent = self._headers(None)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout_s,
                                        sock_read=self.timeout_s)
        async with self.session.get(f"{self.url}{path}", headers=sent,
                                    timeout=timeout) as response:
            if response.status != 200:
                (await _answer(response)).json()
            size = 0
            async for chunk in response.content.iter_chunked(chunk_bytes):
                sink(chunk)
                size += len(chunk)
            return size

    async def _object(self, method: str, path: str,
                      payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data, headers = None, None
        if payload is not None:
            data, headers = orjson.dumps(payload), {hdrs.CONTENT_TYPE: api.JSON_TYPE}
        body = (await self.request(method, path, data=data, headers=headers)).json()
        if not isinstance(body, dict):
            raise ValueError(f"{self.url}{path}: the answer is not a JSON object")
        return body

    async def cluster_status(self) -> dict[str, Any]:
        return await self._object(hdrs.METH_GET, api.CLUSTER_STATUS)

    async def stats(self) -> dict[str, Any]:
        return await self._object(hdrs.METH_GET, api.STATS)

    async def latest(self, sensor_id: str) -> dict[str, Any]:
        return await self._object(hdrs.METH_GET, api.sensor_path(api.SENSOR_LATEST, sensor_id))

    async def members(self) -> dict[str, Any]:
        return await self._object(hdrs.METH_GET, api.MEMBERS)

    async def add_member(self, raft_address: str) -> dict[str, Any]:
        return await self._object(hdrs.METH_POST, api.MEMBERS, {"raft_address": raft_address})

    async def remove_member(self, raft_address: str) -> dict[str, Any]:
        return await self._object(hdrs.METH_DELETE, api.member_path(raft_address))

    async def post_batch(self, body: bytes, content_type: str, key: str, *,
                         timeout_s: float, expect100: bool = False) -> dict[str, Any] | None:
        """POST an encoded batch under an Idempotency-Key: the acknowledgement (None if its
        body could not be read: the batch is committed all the same)."""
        answer = await self.request(hdrs.METH_POST, api.BATCHES, data=body, timeout_s=timeout_s,
                                    expect100=expect100,
                                    headers={hdrs.CONTENT_TYPE: content_type,
                                             api.IDEMPOTENCY_KEY: key})
        return answer.json()

    async def write_line_protocol(self, body: bytes, key: str, *, precision: str, bucket: str,
                                  timeout_s: float, expect100: bool = False) -> None:
        """POST InfluxDB line protocol under an Idempotency-Key; returns on the 204 (committed
        and applied). Its errors come in InfluxDB's shape `{"code", "message"}`, raised as
        ApiError all the same."""
        query = urlencode({api.INFLUX_BUCKET: bucket, api.INFLUX_PRECISION: precision})
        answer = await self.request(hdrs.METH_POST, f"{api.INFLUX_V2_WRITE}?{query}", data=body,
                                    timeout_s=timeout_s, expect100=expect100,
                                    headers={hdrs.CONTENT_TYPE: _LINE_PROTOCOL_TYPE,
                                             api.IDEMPOTENCY_KEY: key})
        if answer.status == 204:
            return
        error = answer.body if isinstance(answer.body, dict) else {}
        raise ApiError(answer.status, str(error.get("code", "")), str(error.get("message", "")),
                       answer.retry_after, answer.body)


async def _answer(response: aiohttp.ClientResponse) -> Answer:
    try:
        body = orjson.loads(await response.read())
    except (ValueError, aiohttp.ClientError):  # the status alone is the answer
        body = None
    return Answer(response.status, body, _seconds(response.headers.get(api.RETRY_AFTER)))


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
