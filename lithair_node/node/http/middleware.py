"""Errors become the one JSON error shape; tokens guard write/admin (and optionally read) routes."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from lithair_node import api
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
from lithair_node.node.http.context import node_of

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Route access levels, set on each route with `access(...)`.
READ, WRITE, OPEN = "read", "write", "open"
_ACCESS_ATTR = "_lithair_access"


def access(level: str, handler: Handler) -> Handler:
    setattr(handler, _ACCESS_ATTR, level)
    return handler


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LithairError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_aiohttp(exc))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(InternalError("internal error; see the node's log"))


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
    token = _bearer(request)
    if level == WRITE:
        if config.auth_token is None:
            return await handler(request)
        if token is None:
            raise Unauthorized("this route needs Authorization: Bearer <token>")
        if _same(token, config.auth_token):
            return await handler(request)
        if config.read_token is not None and _same(token, config.read_token):
            raise Forbidden("a read-only token cannot write")
        raise Unauthorized("invalid token")
    # READ: open unless a read token is configured; the write token also reads.
    if config.read_token is None:
        return await handler(request)
    if token is None:
        raise Unauthorized("this route needs Authorization: Bearer <token>")
    if _same(token, config.read_token) or (
        config.auth_token is not None and _same(token, config.auth_token)
    ):
        return await handler(request)
    raise Unauthorized("invalid token")


def _route_access(request: web.Request) -> str:
    handler = request.match_info.handler
    return getattr(handler, _ACCESS_ATTR, READ)


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get(api.AUTHORIZATION, "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
