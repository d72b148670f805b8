"""The token a request presents, in the forms each route family accepts.

- Every route: `Authorization: Bearer <token>`, or `Token <token>` (InfluxDB's spelling of
  the same header, so one client configuration works for reads and writes).
- The InfluxDB write routes also take InfluxDB 1.x's forms: `Basic` (the password is the
  token; the user name is ignored), `Token user:password`, and the `u`/`p` query
  parameters (`p` is the token).

A form is only parsed, never trusted: the caller compares every candidate with the
configured tokens. Credentials that are not printable ASCII are refused with a 401 here
(a token is ASCII; comparing anything else used to raise, a 500).
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from lithair_node import api
from lithair_node.node.errors import Unauthorized

_BEARER_SCHEMES = frozenset({"bearer", "token"})


def presented_tokens(request: web.Request, *, influx_forms: bool) -> tuple[str, ...]:
    """The candidate tokens of a request (empty: it presents none it may use)."""
    candidates: list[str] = []
    header = request.headers.get(api.AUTHORIZATION)
    if header is not None:
        scheme, _, value = _ascii(header, api.AUTHORIZATION).strip().partition(" ")
        value = value.strip()
        scheme = scheme.lower()
        if scheme in _BEARER_SCHEMES and value:
            candidates.append(value)
            if influx_forms and scheme == "token" and ":" in value:
                candidates.append(value.partition(":")[2])  # Token user:password
        elif influx_forms and scheme == "basic" and value:
            candidates.append(_basic_password(value))
    if influx_forms and "p" in request.query:
        candidates.append(_ascii(request.query["p"], "p"))
    return tuple(c for c in candidates if c)


def _basic_password(encoded: str) -> str:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("Basic credentials must be base64 of ASCII user:password") from None
    return decoded.partition(":")[2]


def _ascii(value: str, name: str) -> str:
    if not value.isascii() or not value.isprintable():
        raise Unauthorized(f"{name} must be printable ASCII")
    return value
