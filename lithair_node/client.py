"""A client that keeps going: it knows every node, follows the leader, and retries a batch
with the same Idempotency-Key until it is acknowledged, refused, or the deadline passes.

Each batch ends as one of:
- "acked":   a node answered 200 (committed and applied there);
- "failed":  refused for good (4xx), or never possibly committed before the deadline;
- "unknown": an attempt may have committed (timeout, dropped connection, 503 outcome
             unknown) and no later attempt settled it before the deadline.
Because keys are remembered in the replicated state, retrying is always safe: a batch that
did commit answers again with "duplicate_batch": true.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgpack
import orjson

ACKED, FAILED, UNKNOWN = "acked", "failed", "unknown"
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class SendResult:
    status: str
    key: str
    readings: int
    attempts: int = 0
    latency_s: float = 0.0
    response: dict[str, Any] | None = None
    node: str | None = None  # URL that gave the final answer
    error: str | None = None
    maybe_committed: bool = False
    history: list[str] = field(default_factory=list)  # one line per attempt


class ClusterClient:
    def __init__(
        self,
        urls: list[str],
        *,
        token: str | None = None,
        request_timeout_s: float = 10.0,
        deadline_s: float = 60.0,
        encoding: str = "msgpack",
        session: aiohttp.ClientSession | None = None,
        max_connections: int = 64,
    ) -> None:
        if not urls:
            raise ValueError("at least one node URL is needed")
        self.urls = [u.rstrip("/") for u in urls]
        self.token = token
        self.request_timeout_s = request_timeout_s
        self.deadline_s = deadline_s
        self.encoding = encoding
        self._session = session
        self._own_session = session is None
        self._max_connections = max_connections
        self.leader_url: str | None = None
        self._next = 0
        self._discovering: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ClusterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections)
            )
        return self._session

    async def close(self) -> None:
        if self._discovering is not None:
            self._discovering.cancel()
        if self._own_session and self._session is not None:
            await self._session.close()

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def cluster_status(self, url: str, timeout_s: float = 2.0) -> dict[str, Any]:
        async with self.session.get(
            f"{url}/api/v1/cluster/status", headers=self._headers(),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            response.raise_for_status()
            return await response.json(loads=orjson.loads)

    async def discover(self) -> str | None:
        """Ask the nodes who leads; learn every member's URL. Returns the leader URL."""
        for url in list(self.urls):
            try:
                status = await self.cluster_status(url)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                continue
            for peer in status.get("peers", []):
                if peer.get("http_url") and peer["http_url"] not in self.urls:
                    self.urls.append(peer["http_url"].rstrip("/"))
            leader = status.get("leader") or {}
            if leader.get("http_url"):
                self.leader_url = leader["http_url"].rstrip("/")
                if self.leader_url not in self.urls:
                    self.urls.append(self.leader_url)
                return self.leader_url
        self.leader_url = None
        return None

    def _rediscover_soon(self) -> None:
        if self._discovering is None or self._discovering.done():
            self._discovering = asyncio.ensure_future(self.discover())

    def _pick_url(self, last: str | None) -> str:
        if self.leader_url and self.leader_url != last:
            return self.leader_url
        self._next = (self._next + 1) % len(self.urls)
        url = self.urls[self._next]
        if url == last and len(self.urls) > 1:
            self._next = (self._next + 1) % len(self.urls)
            url = self.urls[self._next]
        return url

    def encode(self, readings: list[dict[str, Any]]) -> tuple[bytes, str]:
        if self.encoding == "json":
            return orjson.dumps({"readings": readings}), "application/json"
        return msgpack.packb({"readings": readings}, use_bin_type=True), "application/msgpack"

    async def post_batch(
        self, readings: list[dict[str, Any]], key: str | None = None, *, url: str | None = None
    ) -> SendResult:
        body, content_type = self.encode(readings)
        return await self.post_encoded(body, content_type, len(readings), key, url=url)

    async def post_encoded(
        self,
        body: bytes,
        content_type: str,
        readings: int,
        key: str | None = None,
        *,
        url: str | None = None,
    ) -> SendResult:
        result = SendResult(status=FAILED, key=key or uuid.uuid4().hex, readings=readings)
        headers = self._headers(content_type)
        headers["Idempotency-Key"] = result.key
        started = time.monotonic()
        deadline = started + self.deadline_s
        target = url or self._pick_url(None)
        backoff = 0.05
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.status = UNKNOWN if result.maybe_committed else FAILED
                result.latency_s = time.monotonic() - started
                return result
            result.attempts += 1
            retry_after = None
            try:
                async with self.session.post(
                    f"{target}/api/v1/batches", data=body, headers=headers,
                    timeout=aiohttp.ClientTimeout(total=min(self.request_timeout_s, remaining)),
                ) as response:
                    payload = await _json_or_none(response)
                    if response.status == 200:
                        result.status, result.response, result.node = ACKED, payload, target
                        result.latency_s = time.monotonic() - started
                        result.history.append(f"{target}: 200")
                        return result
                    code = ((payload or {}).get("error") or {}).get("code", "")
                    result.history.append(f"{target}: {response.status} {code}")
                    if response.status not in _RETRYABLE_STATUS:
                        result.status, result.response, result.node = FAILED, payload, target
                        result.error = f"{response.status} {code}"
                        result.latency_s = time.monotonic() - started
                        return result
                    if code == "outcome_unknown" or (response.status >= 500 and code != "no_leader"):
                        result.maybe_committed = True
                    result.error = f"{response.status} {code}"
                    retry_after = _retry_after(response)
            except (aiohttp.ClientError, TimeoutError) as exc:
                # The request may have reached the node and committed: only a retry with
                # the same key can tell.
                result.maybe_committed = result.maybe_committed or not isinstance(
                    exc, aiohttp.ClientConnectorError
                )
                result.error = f"{type(exc).__name__}: {exc}"
                result.history.append(f"{target}: {result.error}")
            self.leader_url = None if self.leader_url == target else self.leader_url
            self._rediscover_soon()
            pause = min(backoff, retry_after if retry_after is not None else backoff)
            await asyncio.sleep(min(pause * (0.5 + random.random()), max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, 1.0)
            target = self._pick_url(target)


async def _json_or_none(response: aiohttp.ClientResponse) -> dict[str, Any] | None:
    try:
        return orjson.loads(await response.read())
    except (ValueError, aiohttp.ClientError):
        return None


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
