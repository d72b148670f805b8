"""GET / PUT /api/v1/settings/lifecycle: the replicated retention and rollup policy."""

from __future__ import annotations

from typing import Any

import numpy as np
from aiohttp import web

from lithair_node.machine import stats
from lithair_node.machine.commands import encode_lifecycle
from lithair_node.machine.lifecycle.policy import PolicyError, parse_policy
from lithair_node.machine.lifecycle.reads import LifecycleView
from lithair_node.node.consistency import propose_and_wait
from lithair_node.node.errors import InvalidParameter, InvalidPolicy, raft_failure
from lithair_node.node.http.answers import answer
from lithair_node.node.http.bodies import read_body
from lithair_node.node.http.context import node_of
from lithair_node.node.http.forwarding import require_leader
from lithair_node.node.queries import buckets
from lithair_node.node.raft.types import ProposeError
from lithair_node.node.timestamps import MAX_US, MIN_US, format_timestamp

MAX_POLICY_BODY_BYTES = 64 * 1024
_WIDTH_NAMES = {60_000_000: "1m", 3_600_000_000: "1h", 86_400_000_000: "1d"}


def lifecycle_body(view: LifecycleView) -> dict[str, Any]:
    return {
        **view.policy,
        "clock": format_timestamp(view.clock_us) if view.clock_us else None,
        "clock_us": view.clock_us or None,
        "expired_readings": view.expired_readings,
        "rollups": {_WIDTH_NAMES.get(w, str(w)): rows for w, rows in view.rollup_rows.items()},
        "rollup_bytes": view.rollup_bytes,
        "cold_readings": view.cold_readings,
        "cold_files": view.cold_files,
    }


async def get_lifecycle(request: web.Request) -> web.Response:
    view = node_of(request).state.lifecycle()
    return answer(request, lifecycle_body(view), view.applied_index)


async def put_lifecycle(request: web.Request) -> web.Response:
    """Replace the policy through the log, so every node switches at one index."""
    node = node_of(request)
    require_leader(node)  # before reading a body that could not commit
    body = await read_body(request, MAX_POLICY_BODY_BYTES, node.config.body_timeout_s)
    try:
        policy = parse_policy(body)  # refuse a bad policy here, not in the log
    except PolicyError as exc:
        raise InvalidPolicy(str(exc), field=exc.field) from None
    tiered = [i for i, rule in enumerate(policy.rules) if rule.tier_after_us is not None]
    if tiered and node.config.cold is None:  # else it would silently never move anything
        raise InvalidPolicy("tier_after needs a cold tier: start the nodes with --cold-url",
                            field=f"rules[{tiered[0]}].tier_after")
    try:
        result = await propose_and_wait(node.raft, encode_lifecycle(policy.body()),
                                        node.config.commit_timeout_s)
    except (ProposeError, TimeoutError) as exc:
        raise raft_failure(exc, "the lifecycle change",
                           timeout_s=node.config.commit_timeout_s) from None
    if result.error is not None:
        raise InvalidPolicy(result.error)
    view = node.state.lifecycle()
    return answer(request, {**lifecycle_body(view), "raft_index": result.index},
                  view.applied_index)


# -- /aggregate from a rollup -------------------------------------------------------------

SOURCES = ("auto", "raw", "rollup")


def rollup_buckets(request: web.Request, sensor_ids: list[str], metric: str, every: int,
                   start: int, end: int, functions: tuple[str, ...],
                   source: str) -> tuple[str, list[dict[str, Any]]] | None:
    """(source name, bucket rows) from the widest rollup that answers the query exactly:
    its width divides `every`, from/to fall on its bucket edges, every sensor asked keeps it.
    `auto` takes it only when it reaches at least as far back as the raw readings in range
    (it is then complete, and cheaper); None: answer from the raw readings."""
    state = node_of(request).state
    for width, name in sorted(_WIDTH_NAMES.items(), reverse=True):
        if every % width or not (_edge(start, width, MIN_US) and _edge(end, width, MAX_US + 1)):
            continue
        parts = state.rollup_parts(sensor_ids, metric, width, start, end)
        if parts is None:
            continue
        if source == "auto" and parts.kept_from > max(start, parts.raw_cutoff):
            return None
        slots, slot = np.unique(parts.starts // every, return_inverse=True)
        combined, total = stats.combine_by_key(parts.partials[:5], slot, slots.shape[0],
                                               totals=parts.partials[5])
        return f"rollup_{name}", buckets.bucket_rows(slots, combined, total, every, functions)
    if source == "rollup":
        raise InvalidParameter("no rollup answers this query: every= must be a multiple of a "
                               "rollup every sensor asked keeps (1m, 1h, 1d), and from/to on "
                               "its bucket edges", field="source")
    return None


def _edge(t: int, width: int, open_end: int) -> bool:
    return t <= MIN_US or t >= open_end or t % width == 0
