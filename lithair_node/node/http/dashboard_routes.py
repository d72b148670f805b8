"""The dashboard: GET / and /dashboard (one HTML page, its CSS and JS from the package, no
build step, no CDN), and the two views it needs that no other route gives: every member's
status asked by this node (the page stays same-origin), and the ingest history."""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

import aiohttp
from aiohttp import web

from lithair_node import api
from lithair_node.node.errors import NotFound
from lithair_node.node.http.bodies import json_response
from lithair_node.node.http.cluster_routes import cluster_status
from lithair_node.node.http.context import FORWARD_SESSION, INGEST_HISTORY, node_of

MEMBER_TIMEOUT_S = 0.6  # a member slower than this shows as unreachable (the page polls at 2 Hz)
_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript"}
# Read once at import: the page is a few small files, served only under these names.
_FILES = {entry.name: entry.read_bytes()
          for entry in resources.files("lithair_node.node.http").joinpath("static").iterdir()
          if entry.suffix in _TYPES}


def _file(name: str) -> web.Response:
    if name not in _FILES:
        raise NotFound(f"no dashboard file {name!r}")
    suffix = name[name.rfind("."):]
    return web.Response(body=_FILES[name], content_type=_TYPES[suffix], charset="utf-8",
                        headers={"Cache-Control": "no-cache"})


async def get_dashboard(_request: web.Request) -> web.Response:
    return _file("index.html")


async def get_static(request: web.Request) -> web.Response:
    return _file(request.match_info["name"])


async def get_ingest_history(request: web.Request) -> web.Response:
    return json_response(request.app[INGEST_HISTORY].history())


async def get_cluster_nodes(request: web.Request) -> web.Response:
    """Each member's /cluster/status, asked in parallel; unreachable ones say so."""
    node = node_of(request)
    raft = node.raft.status()
    directory = node.state.members()
    others = sorted(p.raft_address for p in raft.peers)
    session = request.app[FORWARD_SESSION]
    auth = request.headers.get(api.AUTHORIZATION)
    asked = await asyncio.gather(*(
        _member_status(session, directory.get(address, {}).get("http"), auth) for address in others))
    nodes = [{"raft_address": node.config.raft_address, "node_id": node.config.node_id,
              "http_url": node.config.http_url, "reachable": True, "status": cluster_status(node)}]
    for address, (status, error) in zip(others, asked, strict=True):
        info = directory.get(address, {})
        nodes.append({"raft_address": address, "node_id": info.get("node_id"),
                      "http_url": info.get("http"), "reachable": status is not None,
                      "status": status, "error": error})
    return json_response({"asked_by": node.config.node_id, "nodes": nodes})


async def _member_status(session: aiohttp.ClientSession, http_url: str | None,
                         auth: str | None) -> tuple[dict[str, Any] | None, str | None]:
    if http_url is None:
        return None, "its HTTP URL is not announced yet"
    headers = {api.AUTHORIZATION: auth} if auth else {}
    try:
        async with session.get(http_url + api.CLUSTER_STATUS, headers=headers,
                               timeout=aiohttp.ClientTimeout(total=MEMBER_TIMEOUT_S)) as answer:
            if answer.status != 200:
                return None, f"HTTP {answer.status}"
            return await answer.json(), None
    except (aiohttp.ClientError, TimeoutError) as exc:
        return None, type(exc).__name__
