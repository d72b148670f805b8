"""Every error a client can see: one class per case, each with its HTTP status and code.

The body is always `{"error": {"code", "message", "reading", "field"}}`; `reading` (index in
the batch) and `field` are null when they do not apply.
"""

from __future__ import annotations

from typing import Any

from lithair_node import api
from lithair_node.node.raft.types import ProposeError, ProposeFailure


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
    code = api.BAD_REQUEST


class InvalidJson(BadRequest):
    code = api.INVALID_JSON


class InvalidMsgpack(BadRequest):
    code = api.INVALID_MSGPACK


class InvalidParameter(BadRequest):
    code = api.INVALID_PARAMETER


class Unauthorized(LithairError):
    status = 401
    code = api.UNAUTHORIZED


class Forbidden(LithairError):
    status = 403
    code = api.FORBIDDEN


class NotFound(LithairError):
    status = 404
    code = api.NOT_FOUND


class MethodNotAllowed(LithairError):
    status = 405
    code = api.METHOD_NOT_ALLOWED

    def __init__(self, message: str, *, allow: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.allow = allow

    def headers(self) -> dict[str, str]:  # RFC 9110 §15.5.6: a 405 names what the path takes
        return {"Allow": ", ".join(self.allow)} if self.allow else {}


class RequestTimeout(LithairError):
    status = 408
    code = api.REQUEST_TIMEOUT


class Conflict(LithairError):
    status = 409
    code = api.CONFLICT


class PayloadTooLarge(LithairError):
    status = 413
    code = api.PAYLOAD_TOO_LARGE


class TooManyReadings(PayloadTooLarge):
    code = api.TOO_MANY_READINGS


class UriTooLong(LithairError):
    status = 414
    code = api.URI_TOO_LONG


class UnsupportedMediaType(LithairError):
    status = 415
    code = api.UNSUPPORTED_MEDIA_TYPE


class ExpectationFailed(LithairError):
    status = 417
    code = api.EXPECTATION_FAILED


class InvalidBatch(LithairError):
    """The body parsed but does not have the shape of a batch."""

    status = 422
    code = api.INVALID_BATCH


class InvalidReading(LithairError):
    """One reading (`reading` is its index) has a bad or missing field."""

    status = 422
    code = api.INVALID_READING


class InvalidMember(LithairError):
    """A well-formed member address that cannot join: it does not resolve, nothing answers
    on it, or it does not speak our Raft password."""

    status = 422
    code = api.INVALID_MEMBER


class InvalidPolicy(LithairError):
    """A lifecycle policy (PUT /api/v1/settings/lifecycle) that cannot apply; `field` names
    the rule and field, e.g. rules[0].raw."""

    status = 422
    code = api.INVALID_POLICY


class IdempotencyKeyReused(LithairError):
    status = 422
    code = api.IDEMPOTENCY_KEY_REUSED


class TooManyMetrics(LithairError):
    """The batch would take a sensor, or the cluster, past its limit of metric names."""

    status = 422
    code = api.TOO_MANY_METRICS


class Overloaded(LithairError):
    status = 429
    code = api.OVERLOADED


class Unavailable(LithairError):
    status = 503
    code = api.UNAVAILABLE


class TooManyStreams(Unavailable):
    """This node already serves as many streams (GET /api/v1/stream) as it allows."""

    code = api.TOO_MANY_STREAMS


class Starting(Unavailable):
    """The node has not caught up since it started: serving now could go back in time."""

    code = api.STARTING


class NoLeader(Unavailable):
    code = api.NO_LEADER


class OutcomeUnknown(Unavailable):
    """The batch may or may not have committed; retrying with the same key is safe."""

    code = api.OUTCOME_UNKNOWN


class HeadersTooLarge(LithairError):
    status = 431
    code = api.HEADERS_TOO_LARGE


class InternalError(LithairError):
    status = 500
    code = api.INTERNAL


class MethodNotImplemented(LithairError):
    status = 501
    code = api.NOT_IMPLEMENTED


# -- Raft failures: the one translation to client errors ----------------------------------

# ProposeFailure -> (the error of a change to the log, the error of a read barrier). A
# definite failure surely did not commit (retry anywhere); the others may still commit
# (retrying a write with the same Idempotency-Key is safe). Only membership changes are
# ever denied: the leader refuses a second change while one is uncommitted.
_RAFT_FAILURES: dict[ProposeFailure, tuple[type[LithairError], type[LithairError]]] = {
    ProposeFailure.NOT_STARTED: (NoLeader, NoLeader),
    ProposeFailure.QUEUE_FULL: (NoLeader, NoLeader),
    ProposeFailure.NO_LEADER: (NoLeader, NoLeader),
    ProposeFailure.DISCARDED: (NoLeader, NoLeader),
    ProposeFailure.NOT_LEADER: (NoLeader, NoLeader),
    ProposeFailure.DENIED: (Conflict, NoLeader),
    ProposeFailure.LEADER_CHANGED: (OutcomeUnknown, Unavailable),
    ProposeFailure.UNKNOWN_OUTCOME: (OutcomeUnknown, Unavailable),
    ProposeFailure.NO_ANSWER: (OutcomeUnknown, Unavailable),
}
_TIMED_OUT = (OutcomeUnknown, Unavailable)


def raft_failure(error: ProposeError | TimeoutError, what: str, *, read: bool = False,
                 timeout_s: float | None = None, field: str | None = None) -> LithairError:
    """The client error for a proposal (`what`: "the batch", "the change", "the read
    barrier"...) that Raft refused, lost, or did not commit in time."""
    if isinstance(error, ProposeError):
        kind: type[LithairError] = _RAFT_FAILURES[error.kind][read]
        reason = error.reason
    else:
        kind = _TIMED_OUT[read]
        reason = "not committed in time" if timeout_s is None else \
            f"not committed within {timeout_s:g} s"
    if kind is Conflict:
        message = f"{what} was refused ({reason}): another change is not committed yet"
    elif kind is NoLeader:
        message = f"{what} was not committed: {reason}; retry"
    elif read:
        message = f"{what} could not be confirmed: {reason}; retry"
    else:
        message = (f"{what} may or may not have committed ({reason}); it may still commit: "
                   "retrying with the same Idempotency-Key is safe")
    return kind(message, field=field, retry_after=None if kind is Conflict else 1)
