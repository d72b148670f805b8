"""Request body decoding (JSON or msgpack) and JSON responses."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import msgpack
import orjson
from aiohttp import web

from lithair_node import api
from lithair_node.node.errors import (
    BadRequest,
    InvalidJson,
    InvalidMsgpack,
    LithairError,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)
from lithair_node.node.http.expect import send_continue
from lithair_node.node.ingest.duplicate_keys import check_unique_keys

log = logging.getLogger(__name__)

JSON_TYPES = frozenset({api.JSON_TYPE})
MSGPACK_TYPES = frozenset({api.MSGPACK_TYPE, "application/x-msgpack", "application/vnd.msgpack"})
# RFC 8259 lets a parser ignore a byte order mark; orjson refuses it, so it is dropped first.
UTF8_BOM = b"\xef\xbb\xbf"


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        status=status,
        content_type=api.JSON_TYPE,
        headers=headers,
    )


def error_response(error: LithairError) -> web.Response:
    """The one error shape. Its bytes and headers are built once per distinct error (the
    refusals a busy or leaderless node repeats: 503 no_leader, 429 overloaded...); body()
    and headers() are LithairError's own, which no subclass overrides."""
    key = (error.code, error.message, error.reading, error.field, error.retry_after)
    rendered = _RENDERED.get(key)
    if rendered is None:
        # Content-Type as a header: aiohttp then parses no content_type argument.
        rendered = orjson.dumps(error.body()), {"Content-Type": api.JSON_TYPE, **error.headers()}
        if len(_RENDERED) >= _RENDERED_MAX:  # messages naming a value (a wait, an index) vary
            _RENDERED.clear()
        _RENDERED[key] = rendered
    return web.Response(body=rendered[0], status=error.status, headers=rendered[1])


_RENDERED: dict[tuple[Any, ...], tuple[bytes, dict[str, str]]] = {}
_RENDERED_MAX = 256


async def read_body(request: web.Request, max_bytes: int, timeout_s: float) -> Any:
    """Return the decoded body (JSON or msgpack). Raises 408/413/415/400 as typed errors."""
    content_type = request.content_type
    if content_type not in JSON_TYPES and content_type not in MSGPACK_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'!r} is not supported: "
            "send application/json or application/msgpack",
            field="Content-Type",
        )
    raw = await read_raw(request, max_bytes, timeout_s)
    if content_type in JSON_TYPES:
        return decode_json(raw)
    return decode_msgpack(raw)


async def read_raw(request: web.Request, max_bytes: int, timeout_s: float) -> bytes:
    """The body's bytes, once all of them arrived within `timeout_s`. Raises 408/413/400."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"body of {length} bytes exceeds the {max_bytes}-byte limit")
    try:
        # Every check before the body has passed: a client holding it back may send it now.
        await send_continue(request)
        raw = await asyncio.wait_for(request.read(), timeout_s)
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(f"body exceeds the {max_bytes}-byte limit") from None
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {timeout_s:g} s") from None
    except ConnectionResetError:
        # The client gave up (e.g. its timeout passed while this node was stalled): nobody
        # reads the answer, and it is no error of ours to log with a traceback.
        log.info("%s %s: the client closed the connection before its body arrived",
                 request.method, request.path)
        raise BadRequest("the connection closed before the whole body arrived") from None
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"body of {len(raw)} bytes exceeds the {max_bytes}-byte limit")
    return raw


class NonStandardJson(InvalidJson):
    """JSON that only parses with NaN/Infinity allowed. `lenient_body` lets the caller name
    the reading and field holding one; the body is refused either way."""

    def __init__(self, message: str, lenient_body: Any) -> None:
        super().__init__(message)
        self.lenient_body = lenient_body


def decode_json(raw: bytes) -> Any:
    """The decoded body; 400 if it is not JSON, 422 if an object repeats a key."""
    if raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM):]
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _not_json(raw, exc) from None
    check_unique_keys(raw, decoded)
    return decoded


def _not_json(raw: bytes, exc: orjson.JSONDecodeError) -> InvalidJson:
    """What is wrong, naming NaN/Infinity only when the body holds one."""
    message = f"body is not valid JSON: {exc}"
    constants: list[str] = []

    def constant(name: str) -> float:
        constants.append(name)
        return float(name)

    try:
        lenient = json.loads(raw, parse_constant=constant)
    except (ValueError, RecursionError):
        return InvalidJson(message)
    if constants:
        return NonStandardJson(f"{message} (NaN and Infinity are not JSON numbers)", lenient)
    if "infinity" in str(exc):  # orjson: "number is infinity when parsed as double"
        return NonStandardJson(f"{message} (beyond the float64 range)", lenient)
    return InvalidJson(message)


def decode_msgpack(raw: bytes) -> Any:
    try:
        return msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except (ValueError, msgpack.UnpackException, RecursionError) as exc:
        raise InvalidMsgpack(f"body is not valid msgpack: {exc}") from None
