"""Fixtures of the client tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    """start(node) -> its base URL: serves node.app() (a scripted aiohttp app) on a free
    loopback port of its own; every server started is closed after the test."""
    servers: list[TestServer] = []

    async def start(node: Any) -> str:
        server = TestServer(node.app(), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()
