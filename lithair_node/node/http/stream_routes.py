"""GET /api/v1/stream: Server-Sent Events of applied readings, anomalies and cluster events.

aiohttp's StreamResponse, not aiohttp-sse: the framing is four lines (stream/sse.py), and
the hub must be able to cancel a handler blocked writing to a client that stopped reading,
which is plain asyncio here.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from lithair_node import api
from lithair_node.node.errors import InvalidParameter
from lithair_node.node.http.bodies import json_response
from lithair_node.node.http.context import STREAM_HUB
from lithair_node.node.http.params import int_param, list_param
from lithair_node.node.stream import sse
from lithair_node.node.stream.entries import ReadingFilter
from lithair_node.node.stream.subscriber import StreamOptions

PING_S = 15.0
# aiohttp does not tell a waiting handler that its client left: look this often, so that a
# closed stream frees its place within a second even when nothing is sent.
CLOSED_CHECK_S = 1.0
DEFAULT_RATE = 10  # readings events per second per client: a dashboard's worth


def _options(request: web.Request) -> StreamOptions:
    query = request.query
    return StreamOptions(
        wanted=ReadingFilter(frozenset(list_param(query, "sensor_id")),
                             frozenset(list_param(query, "location")),
                             frozenset(list_param(query, "metric"))),
        kinds=frozenset(list_param(query, "events", allowed=sse.KINDS, default=sse.KINDS)),
        max_rate=int_param(query, "max_rate", DEFAULT_RATE, 1, 10_000),
        max_readings=int_param(query, "max_readings", 100, 1, 10_000),
    )


def _last_event_id(request: web.Request) -> int | None:
    text = request.headers.get(api.LAST_EVENT_ID) or request.query.get("last_event_id")
    if not text:
        return None
    if not text.isdigit():
        raise InvalidParameter(f"{api.LAST_EVENT_ID} must be a Raft index", field=api.LAST_EVENT_ID)
    return int(text)


async def get_stream(request: web.Request) -> web.StreamResponse:
    hub = request.app[STREAM_HUB]
    options = _options(request)
    subscriber, resumption = hub.subscribe(options, _last_event_id(request))
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})  # tells proxies (nginx) not to buffer the stream
    try:
        await response.prepare(request)
        if resumption.gap is not None:
            await response.write(sse.frame(sse.GAP, resumption.gap))
        for entry in resumption.entries:  # awaited one by one: a slow reader delays only itself
            frames = subscriber.frames_of(entry, resumption.anomalies.get(entry.index, []), None)
            entry.release()
            for data in frames:
                await response.write(data)
        quiet_since = asyncio.get_running_loop().time()
        while True:
            try:
                data = await asyncio.wait_for(subscriber.next_frame(), CLOSED_CHECK_S)
            except TimeoutError:
                transport = request.transport
                if transport is None or transport.is_closing():
                    return response
                if asyncio.get_running_loop().time() - quiet_since < PING_S:
                    continue
                data = sse.PING
            await response.write(data)
            quiet_since = asyncio.get_running_loop().time()
    except ConnectionResetError:  # the client went away: the normal end of a stream
        return response
    finally:
        hub.unsubscribe(subscriber)


async def get_stream_clients(request: web.Request) -> web.Response:
    return json_response(request.app[STREAM_HUB].figures())
