"""The one write flow of every ingest route (JSON batches, InfluxDB line protocol): admission,
decode, replicate, and the request's outcome counted once for /metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from lithair_node import api
from lithair_node.machine.commands import BatchColumns, make_encoded_batch
from lithair_node.machine.entries import BatchOutcome
from lithair_node.node.errors import BadRequest, LithairError
from lithair_node.node.http.context import METRICS, NodeContext, node_of
from lithair_node.node.ingest.metric_limits import check_metric_limits

# The columns and the number of readings received, from the request's body.
Decoder = Callable[[web.Request, NodeContext], Awaitable[tuple[BatchColumns, int]]]

# lithair_ingest_batches_total{result} of a refused request, by status (other 4xx: invalid).
_RESULT_OF_STATUS = {413: "too_large", 429: "overloaded", 503: "unavailable"}


async def commit_batch(request: web.Request, endpoint: str, decode: Decoder) -> BatchOutcome:
    """The outcome once this node has applied the batch, or the LithairError refusing it."""
    node = node_of(request)
    ingest = request.app[METRICS].ingest
    try:
        key = idempotency_key(request)
        node.proposer.check_admission()  # before spending CPU on a body we would only queue
        columns, received = await decode(request, node)
        check_metric_limits(node.state, columns, node.config.metric_limits)
        outcome = await node.proposer.submit(make_encoded_batch(columns, key, received))
    except LithairError as exc:
        ingest.record(endpoint, refused_result(exc))
        raise
    assert outcome.result is not None
    if outcome.duplicate_batch:
        ingest.record(endpoint, "duplicate_batch")
    else:
        ingest.record(endpoint, "accepted", readings=outcome.result.accepted)
    return outcome


def refused_result(error: LithairError) -> str:
    if error.status in _RESULT_OF_STATUS:
        return _RESULT_OF_STATUS[error.status]
    return "invalid" if error.status < 500 else "failed"


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get(api.IDEMPOTENCY_KEY)
    if key is None:
        return None
    limit = api.MAX_IDEMPOTENCY_KEY_CHARS
    if not key or len(key) > limit or not key.isascii() or not key.isprintable():
        raise BadRequest(f"{api.IDEMPOTENCY_KEY} must be 1-{limit} printable ASCII characters",
                         field=api.IDEMPOTENCY_KEY)
    return key
