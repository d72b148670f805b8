"""NodeApi for blocking code (the lab's polling threads, the CLI, tests and scripts): the
same calls, run to completion on an event loop of its own. Not a second HTTP client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import hdrs

from lithair_node.client.node_api import NO_ANSWER, Answer, NodeApi

T = TypeVar("T")


class BlockingNodeApi:
    """One node's API for one thread: owns an event loop and a session; close it (or use
    `with`). Every request opens a fresh connection, as a probe should: a node restarted
    since the last poll is never asked over a keep-alive connection that died with it."""

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 2.0) -> None:
        self.url = url
        self._token = token
        self._timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._api: NodeApi | None = None

    def __enter__(self) -> BlockingNodeApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._api is not None:
            self._loop.run_until_complete(self._api.session.close())
        self._loop.close()

    def run(self, call: Callable[[NodeApi], Awaitable[T]]) -> T:
        """Run one NodeApi call, e.g. `run(NodeApi.stats)`, and return its result."""
        return self._loop.run_until_complete(self._call(call))

    async def _call(self, call: Callable[[NodeApi], Awaitable[T]]) -> T:
        if self._api is None:  # a session belongs to the loop it is made in
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
            self._api = NodeApi(self.url, session, token=self._token, timeout_s=self._timeout_s)
        return await call(self._api)

    def get(self, path: str) -> Answer:
        return self.run(lambda node: node.request(hdrs.METH_GET, path))

    def cluster_status(self) -> dict[str, Any]:
        return self.run(NodeApi.cluster_status)

    def stats(self) -> dict[str, Any]:
        return self.run(NodeApi.stats)

    def members(self) -> dict[str, Any]:
        return self.run(NodeApi.members)

    def add_member(self, raft_address: str) -> dict[str, Any]:
        return self.run(lambda node: node.add_member(raft_address))

    def remove_member(self, raft_address: str) -> dict[str, Any]:
        return self.run(lambda node: node.remove_member(raft_address))


def http_json(url: str, timeout_s: float = 2.0, token: str | None = None) -> tuple[int, Any]:
    """GET one URL, for probes: (status, decoded JSON or None); status 0 when no answer came
    back."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    with BlockingNodeApi(base, token=token, timeout_s=timeout_s) as node:
        try:
            answer = node.get(url[len(base):])
        except NO_ANSWER:
            return 0, None
    return answer.status, answer.body
