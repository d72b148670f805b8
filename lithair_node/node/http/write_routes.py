"""POST /api/v1/batches: validate, group-commit through Raft, answer once applied here."""

from __future__ import annotations

from aiohttp import web

from lithair_node.machine.commands import BatchColumns
from lithair_node.node.http.bodies import (
    JSON_TYPES,
    NonStandardJson,
    decode_json,
    json_response,
    read_body,
    read_raw,
)
from lithair_node.node.http.context import METRICS, NodeContext
from lithair_node.node.http.write_flow import commit_batch
from lithair_node.node.ingest.validation import Limits, validate_batch


async def post_batch(request: web.Request) -> web.Response:
    outcome = await commit_batch(request, "batches", _json_or_msgpack_batch)
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


async def _json_or_msgpack_batch(request: web.Request, node: NodeContext) -> tuple[BatchColumns, int]:
    limits = Limits(max_readings=node.config.max_batch_readings)
    config = node.config
    if request.content_type not in JSON_TYPES:  # msgpack, or the 415
        return validate_batch(await read_body(request, config.max_body_bytes, config.body_timeout_s),
                              limits)
    raw = await read_raw(request, config.max_body_bytes, config.body_timeout_s)
    typed = node.typed_rows.columns(raw, limits)
    decoders = request.app[METRICS].ingest.json_bodies_by_decoder
    if typed is not None:
        decoders["typed"] += 1
        return typed
    decoders["usual"] += 1
    try:
        body = decode_json(raw)
    except NonStandardJson as exc:
        validate_batch(exc.lenient_body, limits)  # names the NaN's field
        raise
    found = validate_batch(body, limits)
    node.typed_rows.learn(body)
    return found
