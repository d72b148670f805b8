"""The JSON error shape for what aiohttp answers itself: requests so malformed that they never
reach a handler or a middleware (a bad request line, oversized or invalid headers, a bad
Content-Length or chunk size, an unknown method).

aiohttp offers no hook for these (aio-libs/aiohttp#3287): its RequestHandler (one per
connection) answers them in `handle_error`, in plain text. So the node runs the application
with NodeRunner, an AppRunner whose server makes JsonErrorHandlers: the same RequestHandler
with `handle_error` answering {"error": {...}} with the status a client expects.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong

from lithair_node.node.errors import (
    BadRequest,
    HeadersTooLarge,
    InternalError,
    LithairError,
    MethodNotImplemented,
    UriTooLong,
)
from lithair_node.node.http.bodies import error_response

# aiohttp's parser limits, set explicitly. They differ so that a LineTooLong, which carries
# the limit it exceeded, tells a long URL (414) from a long header (431).
MAX_REQUEST_LINE_BYTES = 16 * 1024  # the URL: room for a long sensor_id= list
MAX_HEADER_BYTES = 8 * 1024  # one header, name and value (aiohttp's default is 8190)
MAX_HEADERS = 128  # aiohttp's default
# aiohttp raises a plain BadHttpMessage for too many headers: its text is the only mark.
_TOO_MANY_HEADERS = "Too many headers received"
# llhttp fails an unknown method and bytes that are no request line at all (e.g. a body that
# ran past its Content-Length) alike, as an invalid method; its message quotes the line, and
# only a well-formed request line there makes it an unknown method (501, not 400).
_UNKNOWN_METHOD_LINE = re.compile(r"b'[!#$%&*+.^_`|~0-9A-Za-z-]+ \S+ HTTP/\d\.\d'")


class JsonErrorHandler(web.RequestHandler):
    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        # aiohttp's own answer is dropped, but its logging and its refusal to answer once
        # bytes of a response went out are kept.
        super().handle_error(request, status, exc, message)
        response = error_response(self._error_for(exc))
        response.force_close()  # the parser's state is lost: so is the connection
        return response

    def _error_for(self, exc: BaseException | None) -> LithairError:
        if not isinstance(exc, HttpProcessingError):
            return InternalError("internal error; see the node's log")
        if isinstance(exc, BadHttpMethod) and _UNKNOWN_METHOD_LINE.search(exc.message):
            return MethodNotImplemented("unknown request method: this node serves GET, HEAD, "
                                        "POST, PUT and DELETE")
        if isinstance(exc, LineTooLong):
            limit = str(exc.args[1])
            if limit == str(self.max_line_size):
                return UriTooLong(f"the request line is longer than {limit} bytes")
            return HeadersTooLarge(f"a header is longer than {limit} bytes")
        if exc.message == _TOO_MANY_HEADERS:
            return HeadersTooLarge(f"more than {self.max_headers} headers")
        reason = str(exc.message).split("\n", 1)[0].rstrip(":")
        return BadRequest(f"malformed HTTP request: {reason}")


class _JsonErrorServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class NodeRunner(web.AppRunner):
    """An AppRunner whose connections are JsonErrorHandlers, with the parser limits above."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        super().__init__(app, max_line_size=MAX_REQUEST_LINE_BYTES,
                         max_field_size=MAX_HEADER_BYTES, max_headers=MAX_HEADERS, **kwargs)

    async def _make_server(self) -> web.Server:
        app_server = await super()._make_server()  # starts the application
        return _JsonErrorServer(app_server.request_handler,
                                request_factory=app_server.request_factory, **self._kwargs)
