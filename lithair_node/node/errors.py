"""Every error a client can see: one class per case, each with its HTTP status and code.

The body is always `{"error": {"code", "message", "reading", "field"}}`; `reading` (index in
the batch) and `field` are null when they do not apply.
"""

from __future__ import annotations

from typing import Any


class LithairError(Exception):
    status: int = 500
    code: str = "internal"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        reading: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.reading = reading
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "reading": self.reading,
                "field": self.field,
            }
        }

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, round(self.retry_after)))}


class BadRequest(LithairError):
    status = 400
    code = "bad_request"


class InvalidJson(BadRequest):
    code = "invalid_json"


class InvalidMsgpack(BadRequest):
    code = "invalid_msgpack"


class InvalidParameter(BadRequest):
    code = "invalid_parameter"


class Unauthorized(LithairError):
    status = 401
    code = "unauthorized"


class Forbidden(LithairError):
    status = 403
    code = "forbidden"


class NotFound(LithairError):
    status = 404
    code = "not_found"


class MethodNotAllowed(LithairError):
    status = 405
    code = "method_not_allowed"


class RequestTimeout(LithairError):
    status = 408
    code = "request_timeout"


class Conflict(LithairError):
    status = 409
    code = "conflict"


class PayloadTooLarge(LithairError):
    status = 413
    code = "payload_too_large"


class TooManyReadings(PayloadTooLarge):
    code = "too_many_readings"


class UnsupportedMediaType(LithairError):
    status = 415
    code = "unsupported_media_type"


class InvalidBatch(LithairError):
    """The body parsed but does not have the shape of a batch."""

    status = 422
    code = "invalid_batch"


class InvalidReading(LithairError):
    """One reading (`reading` is its index) has a bad or missing field."""

    status = 422
    code = "invalid_reading"


class IdempotencyKeyReused(LithairError):
    status = 422
    code = "idempotency_key_reused"


class Overloaded(LithairError):
    status = 429
    code = "overloaded"


class Unavailable(LithairError):
    status = 503
    code = "unavailable"


class Starting(Unavailable):
    """The node has not caught up since it started: serving now could go back in time."""

    code = "starting"


class NoLeader(Unavailable):
    code = "no_leader"


class OutcomeUnknown(Unavailable):
    """The batch may or may not have committed; retrying with the same key is safe."""

    code = "outcome_unknown"


class InternalError(LithairError):
    status = 500
    code = "internal"
