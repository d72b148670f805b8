"""`Expect: 100-continue` (RFC 9110 §10.1.1): the node says "100 Continue" only once it has
decided to read the body, so a refused request costs it the headers, never the body.

aiohttp's default expect handler sends the 100 as soon as the headers are parsed, before
the middlewares (token) and the route (admission, Content-Length) have judged anything.
Here every route's expect handler (`deferred_continue`) only notes what was asked;
`send_continue` is called by `bodies.read_raw` just before the body is read, i.e. after
the token (401/403), the admission checks (429/503), the Content-Type (415) and the
Content-Length limit (413). An answer given while the client still waits for its 100
closes the connection (`close_if_waiting`): the client has not sent the body and may never
send it, so the server could not tell its bytes from the next request's.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.http import HttpVersion11

from lithair_node.node.errors import ExpectationFailed

EXPECT = "Expect"
CONTINUE = "100-continue"
# What aiohttp's own handler writes; output_size is reset after it so that the final
# answer's size (access log) does not count it.
_CONTINUE_LINE = b"HTTP/1.1 100 Continue\r\n\r\n"
_WAITING = web.RequestKey("lithair_waits_for_continue", bool)
_UNKNOWN = web.RequestKey("lithair_unknown_expectation", str)


async def deferred_continue(request: web.Request) -> None:
    """The expect handler of every route: runs before the middlewares, so it only notes
    the expectation; `check_expectation` (in error_middleware) refuses an unknown one in
    the route's error shape. HTTP/1.0's 100-continue is ignored, as the RFC says."""
    value = request.headers.get(EXPECT, "")
    if value.strip().lower() != CONTINUE:
        request[_UNKNOWN] = value
    elif request.version >= HttpVersion11:
        request[_WAITING] = True


def check_expectation(request: web.Request) -> None:
    value = request.get(_UNKNOWN)
    if value is not None:
        raise ExpectationFailed(f"Expect: {value!r} is not supported: send Expect: "
                                f"{CONTINUE}, or no Expect header", field=EXPECT)


async def send_continue(request: web.Request) -> None:
    """The body is about to be read: a client waiting for its 100 may send it now."""
    if request.get(_WAITING):
        request[_WAITING] = False
        await request.writer.write(_CONTINUE_LINE)
        request.writer.output_size = 0


def close_if_waiting(request: web.Request, response: web.StreamResponse) -> None:
    """An answer to a client still waiting for its 100 (or that asked for an unknown
    expectation) closes the connection: its body was never read."""
    if (request.get(_WAITING) or _UNKNOWN in request) and not request.content.is_eof():
        response.force_close()
