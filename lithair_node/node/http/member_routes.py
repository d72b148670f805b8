"""Cluster membership: list, add and remove Raft members (PySyncObj dynamic membership).

Adding a node: `POST /api/v1/members {"raft_address": "host:port"}` on any node, then
start the new node with `--peers` listing every existing member; it catches up from the
leader (by snapshot when the log was compacted). Removing: `DELETE
/api/v1/members/{raft_address}`, then stop that node.

Changes are carried out by the leader (other nodes forward the request over HTTP), one at a
time, and only after the checks of member_checks.py (the address resolves, a newcomer answers
with our Raft password, a majority stays connected). The leader cannot remove itself: it
first hands leadership to its most caught-up follower, then forwards the removal to the new
leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from lithair_node import api
from lithair_node.node.consistency import await_raft
from lithair_node.node.errors import Conflict, Unavailable, raft_failure
from lithair_node.node.http.bodies import decode_json, json_response, read_raw
from lithair_node.node.http.cluster_routes import cluster_status
from lithair_node.node.http.context import NodeContext, node_of
from lithair_node.node.http.forwarding import (
    forward_headers,
    forward_session,
    leader_target,
    leader_url,
)
from lithair_node.node.http.member_checks import (
    check_answers_with_password,
    check_majority_stays,
    check_resolves_to_a_new_node,
    parse_member_address,
)
from lithair_node.node.raft.types import ProposeError, ProposeFailure
from lithair_node.polling import wait_until_async

LEADER_TRANSFER_WAIT_S = 10.0
FORWARDED_LEAD_WAIT_S = 1.0
MAX_MEMBER_BODY_BYTES = 64 * 1024
# The shared forwarding session does not decompress: an encoded body passes as it came.
_PASSED_HEADERS = (api.RETRY_AFTER, "Content-Encoding")
_CHANGE = "a membership change"


def members_payload(node: NodeContext) -> dict[str, Any]:
    status = cluster_status(node)
    me = {key: status[key] for key in ("raft_address", "node_id", "http_url")}
    members = [{**me, "self": True, "connected": True}]
    members += [{**peer, "self": False} for peer in status["peers"]]
    leader = (status["leader"] or {}).get("raft_address")
    for member in members:
        member["leader"] = member["raft_address"] == leader
    members.sort(key=lambda m: m["raft_address"])
    return {"members": members, "leader": status["leader"], "term": status["term"]}


async def get_members(request: web.Request) -> web.Response:
    return json_response(members_payload(node_of(request)))


async def post_member(request: web.Request) -> web.Response:
    node = node_of(request)
    # A follower that cannot forward the change (no leader known, or the change was forwarded
    # here already) refuses it before reading the body.
    leader = await _leader_unless_here(request)
    raw = await read_raw(request, MAX_MEMBER_BODY_BYTES, node.config.body_timeout_s)
    body = decode_json(raw)
    address = body.get("raft_address") if isinstance(body, dict) else None
    host, port = parse_member_address(address)
    if leader is not None:
        return await _forward_to_leader(request, leader, raw)
    async with _one_change_at_a_time(node):
        if address in _member_addresses(node):
            raise Conflict(f"{address} is already a member", field="raft_address")
        await check_resolves_to_a_new_node(node, host, port)
        await check_answers_with_password(node, host, port)
        check_majority_stays(node, "add", address)
        await _change(node, "add", address)
    return json_response(members_payload(node))


async def delete_member(request: web.Request) -> web.Response:
    node = node_of(request)
    address = request.match_info["raft_address"]
    parse_member_address(address)
    leader = await _leader_unless_here(request)
    if leader is not None:
        return await _forward_to_leader(request, leader)
    async with _one_change_at_a_time(node):
        if address not in _member_addresses(node):
            raise Conflict(f"{address} is not a member", field="raft_address")
        check_majority_stays(node, "remove", address)
        if address != node.config.raft_address:
            await _change(node, "remove", address)
            return json_response(members_payload(node))
        await _hand_over_leadership(node)
    # The one deliberate second hop: this node just made another one lead, and that one
    # carries out its removal (the one-hop rule of leader_target would refuse it).
    new_leader = leader_url(node)
    if new_leader is None:
        raise Unavailable("leadership was handed over but the new leader is not known yet; "
                          "nothing was removed: retry", retry_after=1)
    return await _forward_to_leader(request, new_leader.rstrip("/") + request.raw_path)


@contextlib.asynccontextmanager
async def _one_change_at_a_time(node: NodeContext) -> AsyncIterator[None]:
    """409 at once while another change handled here has not committed (PySyncObj would
    also deny it, but only after the checks and a proposal)."""
    if node.membership_change.locked():
        raise Conflict("another membership change is in progress; retry once it has "
                       "committed (GET /api/v1/members)", field="raft_address")
    async with node.membership_change:
        yield


async def _leader_unless_here(request: web.Request) -> str | None:
    """None when this node leads, else the URL to forward the change to (or a 503). A change
    forwarded here came from a node that saw this one lead (e.g. it just handed leadership
    over): this node's own sampled Raft view may lag behind by a tick or two, so give it a
    moment before refusing."""
    node = node_of(request)
    if api.FORWARDED_HEADER in request.headers:
        with contextlib.suppress(TimeoutError):
            await wait_until_async(lambda: node.raft.status().is_leader, FORWARDED_LEAD_WAIT_S)
    return None if node.raft.status().is_leader else leader_target(request, _CHANGE)


async def _forward_to_leader(request: web.Request, url: str,
                             body: bytes | None = None) -> web.Response:
    node = node_of(request)
    headers = {**forward_headers(request), "Content-Type": api.JSON_TYPE}
    timeout = aiohttp.ClientTimeout(total=3 * node.config.commit_timeout_s + LEADER_TRANSFER_WAIT_S)
    try:
        async with forward_session(request).request(
            request.method, url, data=body, headers=headers, timeout=timeout,
        ) as upstream:
            passed = {name: upstream.headers[name] for name in _PASSED_HEADERS
                      if name in upstream.headers}
            return web.Response(body=await upstream.read(), status=upstream.status,
                                content_type=api.JSON_TYPE, headers=passed)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable(f"the leader at {url} did not answer: {exc}", retry_after=1) from None


def _member_addresses(node: NodeContext) -> set[str]:
    status = node.raft.status()
    return {node.config.raft_address, *(peer.raft_address for peer in status.peers)}


async def _change(node: NodeContext, action: str, address: str) -> None:
    """Propose the change until it shows in this node's configuration. A retry is safe:
    PySyncObj refuses to add a member twice or remove an absent one."""
    def done() -> bool:
        return (address in _member_addresses(node)) == (action == "add")

    deadline = time.monotonic() + node.config.commit_timeout_s
    failure: ProposeError | TimeoutError = TimeoutError()
    while time.monotonic() < deadline:
        try:
            await await_raft(lambda cb: node.raft.change_membership(action, address, cb),
                             max(0.1, deadline - time.monotonic()))
            # The Raft status is sampled every few ms.
            await wait_until_async(done, 2.0, what="the committed change to show here")
            return
        except TimeoutError as exc:
            failure = exc
            break
        except ProposeError as exc:
            failure = exc
        # Lost in a leader change, or refused because it already happened: look, then retry.
        try:
            await wait_until_async(done, 0.5)
            return
        except TimeoutError:
            continue
    if isinstance(failure, ProposeError) and failure.kind is ProposeFailure.DENIED:
        raise raft_failure(failure, "the membership change", field="raft_address")
    # Earlier attempts may have committed, whatever the last one said: check the members.
    raise raft_failure(TimeoutError(), "the membership change (check GET /api/v1/members)",
                       timeout_s=node.config.commit_timeout_s)


async def _hand_over_leadership(node: NodeContext) -> None:
    """Make another node lead (this one is about to be removed)."""
    me = node.config.raft_address
    # PySyncObj only hands over to a follower holding the leader's whole log: stop appending
    # (Proposer.held) and keep asking for a while.
    deadline = time.monotonic() + LEADER_TRANSFER_WAIT_S
    last_error: Exception | None = None
    async with node.proposer.held():  # writes queue meanwhile: the follower can catch up
        while time.monotonic() < deadline:
            try:
                await await_raft(node.raft.transfer_leadership, node.config.commit_timeout_s)
            except (ProposeError, TimeoutError) as exc:
                last_error = exc
                await asyncio.sleep(0.02)
                continue
            try:
                await wait_until_async(lambda: node.raft.status().leader not in (None, me), 3.0,
                                       what="another node to lead")
                return
            except TimeoutError as exc:
                last_error = exc
    raise Unavailable(f"could not hand over leadership before removing this node: {last_error}",
                      retry_after=1)
