"""Errors become the one JSON error shape (or the route family's own, see `speaks`); tokens
guard write/admin (and optionally read) routes; every answer is timed for /metrics."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from lithair_node.node.errors import (
    BadRequest,
    Forbidden,
    InternalError,
    LithairError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from lithair_node.node.http.bodies import error_response
from lithair_node.node.http.context import METRICS, node_of
from lithair_node.node.http.credentials import presented_tokens
from lithair_node.node.http.expect import check_expectation, close_if_waiting
from lithair_node.node.http.unmatched import is_unmatched

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Route access levels, set on each route with `access(...)`.
READ, WRITE, OPEN = "read", "write", "open"
_ACCESS_ATTR = "_lithair_access"
_DIALECT_ATTR = "_lithair_dialect"


@dataclass(frozen=True)
class Dialect:
    """How a family of routes speaks to its clients: its error body, and whether it takes
    InfluxDB 1.x's credential forms (credentials.py)."""

    render_error: Callable[[LithairError], web.Response]
    influx_credentials: bool = False


LITHAIR = Dialect(error_response)


def access(level: str, handler: Handler) -> Handler:
    setattr(handler, _ACCESS_ATTR, level)
    return handler


def speaks(dialect: Dialect, handler: Handler) -> Handler:
    setattr(handler, _DIALECT_ATTR, dialect)
    return handler


def _dialect(request: web.Request) -> Dialect:
    return getattr(request.match_info.handler, _DIALECT_ATTR, LITHAIR)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: times every answer under its route template (never the raw path, whose
    sensor ids would make one series each)."""
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects error_middleware lets through
        _observe(request, exc.status, started)
        raise
    _observe(request, response.status, started)
    return response


def _observe(request: web.Request, status: int, started: float) -> None:
    resource = request.match_info.route.resource
    route = "unmatched" if resource is None or is_unmatched(request) else resource.canonical
    request.app[METRICS].observe(route, status, time.perf_counter() - started)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    render = _dialect(request).render_error
    try:
        check_expectation(request)  # a bad Expect: 417, before the token is even looked at
        response = await handler(request)
    except LithairError as exc:
        response = render(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = render(_from_aiohttp(exc))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        response = render(InternalError("internal error; see the node's log"))
    close_if_waiting(request, response)  # refused before its 100 Continue: body never sent
    return response


def _from_aiohttp(exc: web.HTTPException) -> LithairError:
    if exc.status == 404:
        return NotFound("no such route")
    if exc.status == 405:
        return MethodNotAllowed(f"method not allowed: {exc.reason}")
    if exc.status == 413:
        return PayloadTooLarge("request body too large")
    error = BadRequest(exc.text or exc.reason)
    error.status = exc.status
    return error


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    config = node_of(request).config
    level = _route_access(request)
    if level == OPEN or (config.auth_token is None and config.read_token is None):
        return await handler(request)
    if level == WRITE and config.auth_token is None:
        return await handler(request)
    # READ: open unless a read token is configured; the write token also reads.
    if level == READ and config.read_token is None:
        return await handler(request)
    tokens = presented_tokens(request, influx_forms=_dialect(request).influx_credentials)
    if not tokens:
        raise Unauthorized("this route needs Authorization: Bearer <token>")
    if _matches(tokens, config.auth_token):
        return await handler(request)
    if _matches(tokens, config.read_token):
        if level == READ:
            return await handler(request)
        raise Forbidden("a read-only token cannot write")
    raise Unauthorized("invalid token")


def _route_access(request: web.Request) -> str:
    handler = request.match_info.handler
    return getattr(handler, _ACCESS_ATTR, READ)


def _matches(tokens: tuple[str, ...], expected: str | None) -> bool:
    # Every candidate is compared (constant time each), so timing tells nothing of which matched.
    if expected is None:
        return False
    return sum(hmac.compare_digest(t.encode(), expected.encode()) for t in tokens) > 0
