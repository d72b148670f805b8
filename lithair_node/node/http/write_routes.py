"""POST /api/v1/batches: validate, group-commit through Raft, answer once applied here."""

from __future__ import annotations

from aiohttp import web

from lithair_node import api
from lithair_node.machine.commands import make_encoded_batch
from lithair_node.node.errors import BadRequest
from lithair_node.node.http.bodies import NonStandardJson, json_response, read_body
from lithair_node.node.http.context import node_of
from lithair_node.node.ingest.validation import Limits, validate_batch


async def post_batch(request: web.Request) -> web.Response:
    node = node_of(request)
    key = _idempotency_key(request)
    node.proposer.check_admission()  # before spending CPU on a body we would only queue
    limits = Limits(max_readings=node.config.max_batch_readings)
    try:
        body = await read_body(request, node.config.max_body_bytes, node.config.body_timeout_s)
    except NonStandardJson as exc:
        validate_batch(exc.lenient_body, limits)  # names the NaN's field
        raise
    columns, received = validate_batch(body, limits)
    batch = make_encoded_batch(columns, key, received)
    outcome = await node.proposer.submit(batch)
    result = outcome.result
    assert result is not None
    return json_response(
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "raft_index": result.raft_index,
            "raft_term": result.raft_term,
            "duplicate_batch": outcome.duplicate_batch,
        }
    )


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get(api.IDEMPOTENCY_KEY)
    if key is None:
        return None
    limit = api.MAX_IDEMPOTENCY_KEY_CHARS
    if not key or len(key) > limit or not key.isascii() or not key.isprintable():
        raise BadRequest(f"{api.IDEMPOTENCY_KEY} must be 1-{limit} printable ASCII characters",
                         field=api.IDEMPOTENCY_KEY)
    return key

