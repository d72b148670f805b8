"""A client that keeps going: it knows every node, follows the leader, and retries a batch
with the same Idempotency-Key until it is acknowledged, refused, or its deadline passes.

Each batch ends as one of:
- "acked":   a node answered 200 (committed and applied there);
- "failed":  refused for good (4xx), or no attempt can have committed before the deadline;
- "unknown": an attempt may have committed (timeout, dropped connection, 503 outcome
             unknown) and no later attempt settled it before the deadline.
Because keys are remembered in the replicated state, retrying is always safe: a batch that
did commit answers again with "duplicate_batch": true, whichever node or leader answers.

Every attempt is recorded (`SendResult.trail`), so a checker can later compare what the
client was told against what the nodes hold (see history.py).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgpack
import orjson

from lithair_node import api
from lithair_node.client.discovery import survey
from lithair_node.client.node_api import ApiError, NodeApi

ACKED, FAILED, UNKNOWN = "acked", "failed", "unknown"
# One attempt at one node: (node, Idempotency-Key, timeout in s, send Expect: 100-continue)
# -> the acknowledgement.
_Write = Callable[[NodeApi, str, float, bool], Awaitable[dict[str, Any] | None]]
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# With expect_after_refusal, a node that answered one of these is sent the next writes with
# Expect: 100-continue until it admits one: a refusal then costs no upload of the body, but
# the node closes each such connection (the client never sent the body). Off by default:
# on loopback a refusal then cost the node more CPU (0.246 vs 0.212 ms, a new connection
# each), and at twice the sustainable rate 18-25% fewer readings were accepted
# (refusal-20261201T182025Z.json, backpressure-20261201T183300Z.json in bench/results).
_REFUSALS = frozenset({429, 503})


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt of a batch."""

    url: str
    started: float  # time.monotonic()
    elapsed_s: float
    status: int | None  # HTTP status; None when no answer came back
    code: str  # error code from the body, or the exception's name; "" on success
    uncertain: bool  # this attempt may have committed without us knowing

    def describe(self) -> str:
        what = f"{self.status} {self.code}".strip() if self.status else self.code
        return f"{self.url}: {what} ({self.elapsed_s * 1000:.0f} ms)"


@dataclass
class SendResult:
    status: str
    key: str
    readings: int
    attempts: int = 0
    latency_s: float = 0.0
    started: float = 0.0  # time.monotonic() of the first attempt
    finished: float = 0.0  # time.monotonic() of the final answer
    response: dict[str, Any] | None = None
    node: str | None = None  # URL that gave the final answer
    error: str | None = None
    maybe_committed: bool = False
    trail: list[Attempt] = field(default_factory=list)

    @property
    def history(self) -> list[str]:
        return [attempt.describe() for attempt in self.trail]

    @property
    def had_uncertain_attempt(self) -> bool:
        return any(attempt.uncertain for attempt in self.trail)

    @property
    def resolution(self) -> str:
        """How the batch ended, for reports:
        clean              acked by the first attempt
        retried            acked after retries that surely had not committed
        committed_earlier  an uncertain attempt had committed: the retry got duplicate_batch
        committed_by_retry uncertain attempts had not committed: the retry stored it
        unresolved         still unknown at the deadline
        failed             refused, or never possibly committed"""
        if self.status == ACKED:
            if self.attempts == 1:
                return "clean"
            if not self.had_uncertain_attempt:
                return "retried"
            duplicate = bool((self.response or {}).get("duplicate_batch"))
            return "committed_earlier" if duplicate else "committed_by_retry"
        return "unresolved" if self.status == UNKNOWN else "failed"


class ClusterClient:
    """Posts batches to a cluster. One instance is shared by many concurrent senders.

    Defaults: an attempt waits `request_timeout_s` (longer than the node's 5 s commit
    timeout, so a live node always answers first; a SIGSTOPped one is given up on), and a
    batch is retried with exponential backoff (`backoff_s` doubling to `max_backoff_s`,
    jittered) until `deadline_s` after its first attempt."""

    # How often a batch refused with 503 asks who leads while it waits (_pause_until_new_leader).
    LEADER_POLL_S = 0.05

    def __init__(
        self,
        urls: list[str],
        *,
        token: str | None = None,
        request_timeout_s: float = 6.0,
        deadline_s: float = 60.0,
        backoff_s: float = 0.05,
        max_backoff_s: float = 0.5,
        # JSON: a node decodes a JSON batch of a shape it has accepted before in one typed
        # pass (node/ingest/typed_rows.py): 1.4-1.9x less CPU a reading than the same batch
        # as msgpack (scripts/bench_decode.py, "total" against "msgpack", S = 12 to 100K).
        encoding: str = "json",
        session: aiohttp.ClientSession | None = None,
        max_connections: int = 64,
        expect_after_refusal: bool = False,
    ) -> None:
        if not urls:
            raise ValueError("at least one node URL is needed")
        self.urls = list(dict.fromkeys(u.rstrip("/") for u in urls))
        self.token = token
        self.request_timeout_s = request_timeout_s
        self.deadline_s = deadline_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.encoding = encoding
        self._session = session
        self._own_session = session is None
        self._max_connections = max_connections
        self.expect_after_refusal = expect_after_refusal
        self.leader_url: str | None = None
        self.leader_term = -1
        self._next = 0
        self._refusing: set[str] = set()  # nodes whose last answer to a write was a refusal
        self._discovering: asyncio.Task[str | None] | None = None

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

    def _node(self, url: str, timeout_s: float = 2.0) -> NodeApi:
        return NodeApi(url, self.session, token=self.token, timeout_s=timeout_s)

    async def discover(self, timeout_s: float = 1.0) -> str | None:
        """Ask the nodes who leads and learn every member's URL (see discovery.survey).
        Trust the highest term. Returns the leader URL."""
        answers = await survey(self.urls, lambda url: self._node(url, timeout_s))
        best: tuple[int, str] | None = None
        for url, status in answers.items():
            self._learn(url)
            if not isinstance(status, dict):
                continue
            leader = status.get("leader") or {}
            if leader.get("http_url") and (best is None or status.get("term", 0) > best[0]):
                best = (int(status.get("term", 0)), leader["http_url"].rstrip("/"))
        if best is None:
            self.leader_url = None
            return None
        self.leader_term, self.leader_url = best
        self._learn(self.leader_url)
        return self.leader_url

    def _learn(self, url: str | None) -> None:
        if url and url.rstrip("/") not in self.urls:
            self.urls.append(url.rstrip("/"))

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
            # numpy scalars too (msgpack took numpy floats, which subclass float).
            return orjson.dumps({"readings": readings}, option=orjson.OPT_SERIALIZE_NUMPY), api.JSON_TYPE
        return msgpack.packb({"readings": readings}, use_bin_type=True), api.MSGPACK_TYPE

    async def post_batch(
        self, readings: list[dict[str, Any]], key: str | None = None, *, url: str | None = None,
        max_attempts: int | None = None,
    ) -> SendResult:
        body, content_type = self.encode(readings)
        return await self.post_encoded(body, content_type, len(readings), key, url=url,
                                       max_attempts=max_attempts)

    async def post_encoded(
        self,
        body: bytes,
        content_type: str,
        readings: int,
        key: str | None = None,
        *,
        url: str | None = None,
        max_attempts: int | None = None,
    ) -> SendResult:
        """POST /api/v1/batches until acked, refused, `deadline_s` passed or `max_attempts`
        made; the first attempt goes to `url` if given. Between attempts: the jittered
        backoff, or at least the Retry-After a refusing node asked for (never past the
        deadline)."""
        return await self._send(
            lambda node, key, timeout_s, expect: node.post_batch(body, content_type, key,
                                                                 timeout_s=timeout_s,
                                                                 expect100=expect),
            readings, key, url, max_attempts)

    async def post_line_protocol(
        self, body: bytes, points: int, key: str | None = None, *, precision: str,
        bucket: str, url: str | None = None, max_attempts: int | None = None,
    ) -> SendResult:
        """The same for InfluxDB line protocol (POST /api/v2/write): acked on its 204, with
        `response` None; a refusal's `response` is InfluxDB's `{"code", "message"}`. Its 503s
        do not say no_leader from outcome_unknown, so each counts as maybe committed."""
        return await self._send(
            lambda node, key, timeout_s, expect: node.write_line_protocol(
                body, key, precision=precision, bucket=bucket, timeout_s=timeout_s,
                expect100=expect),
            points, key, url, max_attempts)

    async def _send(self, write: _Write, readings: int, key: str | None, url: str | None,
                    max_attempts: int | None) -> SendResult:
        result = SendResult(status=FAILED, key=key or uuid.uuid4().hex, readings=readings)
        result.started = time.monotonic()
        deadline = result.started + self.deadline_s
        target = url or self._pick_url(None)
        backoff = self.backoff_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (max_attempts is not None and result.attempts >= max_attempts):
                result.status = UNKNOWN if result.maybe_committed else FAILED
                return _finish(result)
            result.attempts += 1
            started = time.monotonic()
            retry_after = None
            try:
                payload = await write(self._node(target), result.key,
                                      min(self.request_timeout_s, remaining),
                                      target in self._refusing)
            except ApiError as refusal:
                self._note_answer(target, refusal.status)
                uncertain = refusal.status in _RETRYABLE_STATUS and (
                    refusal.code == api.OUTCOME_UNKNOWN
                    or (refusal.status >= 500 and refusal.code not in api.DEFINITE_FAILURES)
                )
                result.trail.append(Attempt(target, started, time.monotonic() - started,
                                            refusal.status, refusal.code, uncertain))
                result.error = f"{refusal.status} {refusal.code}"
                if refusal.status not in _RETRYABLE_STATUS:
                    result.status, result.response, result.node = FAILED, refusal.body, target
                    return _finish(result)
                result.maybe_committed = result.maybe_committed or uncertain
                retry_after = refusal.retry_after
            except (aiohttp.ClientError, TimeoutError) as exc:
                # Refused connections never reached a node; anything else may have
                # committed, and only a retry with the same key can tell.
                uncertain = not isinstance(exc, aiohttp.ClientConnectorError)
                result.maybe_committed = result.maybe_committed or uncertain
                result.error = f"{type(exc).__name__}: {exc}".rstrip(": ")
                result.trail.append(Attempt(target, started, time.monotonic() - started, None,
                                            type(exc).__name__, uncertain))
            else:
                self._note_answer(target, 200)
                result.trail.append(Attempt(target, started, time.monotonic() - started,
                                            200, "", False))
                result.status, result.response, result.node = ACKED, payload, target
                result.error = None
                if self.leader_url is None:  # acked through a follower: find the leader
                    self._rediscover_soon()
                return _finish(result)
            # Whatever went wrong, the leader we knew is suspect: ask again, try elsewhere.
            if self.leader_url == target:
                self.leader_url = None
            term_before = self.leader_term
            self._rediscover_soon()
            if max_attempts is not None and result.attempts >= max_attempts:
                continue  # settled at the top of the loop, without a pause
            pause = max(0.0, min(_pause(backoff, retry_after), deadline - time.monotonic()))
            if result.trail[-1].status == 503:
                await self._pause_until_new_leader(pause, term_before)
            else:
                await asyncio.sleep(pause)
            backoff = min(backoff * 2, self.max_backoff_s)
            target = self._pick_url(target)


    def _note_answer(self, url: str, status: int) -> None:
        if status in _REFUSALS and self.expect_after_refusal:
            self._refusing.add(url)
        else:  # admitted (even if then refused for its content): back to one round trip
            self._refusing.discard(url)

    def expects_continue(self, url: str) -> bool:
        """Whether the next write to `url` waits for its 100 Continue (refused last time)."""
        return url.rstrip("/") in self._refusing

    async def _pause_until_new_leader(self, pause: float, term_before: int) -> None:
        """Sleep `pause`, but stop early once discovery finds a leader of a later term than
        we knew. A 503 (no leader, or outcome unknown because the
        leader changed) says Retry-After: 1 (whole seconds) while an election takes a
        fraction of that: measured, retries came ~1 s after the new leader was elected."""
        end = time.monotonic() + pause
        while (remaining := end - time.monotonic()) > 0:
            task = self._discovering
            if task is not None and not task.done():
                await asyncio.wait({task}, timeout=remaining)
            elif self.leader_term > term_before and self.leader_url is not None:
                return
            else:
                await asyncio.sleep(min(remaining, self.LEADER_POLL_S))
                self._rediscover_soon()


def _pause(backoff: float, retry_after: float | None) -> float:
    """How long to wait before the next attempt. A node that said Retry-After is not asked
    sooner: the jitter that keeps clients apart only adds to it."""
    if retry_after is None:
        return backoff * (0.5 + random.random())
    return retry_after + backoff * random.random()


def _finish(result: SendResult) -> SendResult:
    result.finished = time.monotonic()
    result.latency_s = result.finished - result.started
    return result
