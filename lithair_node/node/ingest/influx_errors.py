"""Lithair errors as InfluxDB's write APIs word them, so its clients understand them.

- v2 (`POST /api/v2/write`): `{"code": "invalid", "message": "..."}`, with InfluxDB's own
  codes per status.
- v1 (`POST /write`): `{"error": "..."}` and the same message in `X-Influxdb-Error`.

Statuses are the node's, which match InfluxDB's for writes: 400 a line that does not parse
or cannot be stored (the whole batch is refused: Lithair batches are atomic, so a write is
never partial), 401, 404, 413 too large, 422 an Idempotency-Key reused with another body,
429 this node is behind and 503 no leader or outcome unknown (both with Retry-After;
influxdb-client retries them, honouring it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import orjson

from lithair_node import api
from lithair_node.node.errors import LithairError

# InfluxDB's error codes (its platform errors) for the statuses the node answers.
V2_CODES: Final = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    413: "request too large",
    415: "unsupported media type",
    422: "unprocessable entity",
    429: "too many requests",
    503: "unavailable",
}
_INTERNAL = "internal error"
_JSON = "application/json; charset=utf-8"
V1_ERROR_HEADER: Final = "X-Influxdb-Error"


@dataclass(frozen=True)
class InfluxErrorResponse:
    status: int
    body: bytes
    headers: dict[str, str]


def influx_v2_error(error: LithairError) -> InfluxErrorResponse:
    code = V2_CODES.get(error.status, _INTERNAL if error.status >= 500 else "invalid")
    body = orjson.dumps({"code": code, "message": error.message})
    return InfluxErrorResponse(error.status, body, {"Content-Type": _JSON, **_retry_after(error)})


def influx_v1_error(error: LithairError) -> InfluxErrorResponse:
    body = orjson.dumps({"error": error.message})
    # A header value cannot hold a line break; the body keeps the message whole.
    header = " ".join(error.message.split())
    return InfluxErrorResponse(error.status, body, {"Content-Type": _JSON, V1_ERROR_HEADER: header,
                                                    **_retry_after(error)})


def _retry_after(error: LithairError) -> dict[str, str]:
    """The error's Retry-After; 429 and 503 always carry one (InfluxDB clients wait that
    long before they retry)."""
    headers = error.headers()
    if error.status in (429, 503) and api.RETRY_AFTER not in headers:
        return {api.RETRY_AFTER: "1"}
    return headers
