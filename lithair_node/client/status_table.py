"""Gather every node's own view of the cluster into one table (for `lithair status`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from lithair_node.client.discovery import survey
from lithair_node.client.node_api import ApiError, NodeApi


@dataclass
class NodeRow:
    node_id: str | None
    http_url: str
    role: str  # leader / follower / candidate / unreachable
    leader_id: str | None = None
    term: int | None = None
    commit_index: int | None = None
    applied_index: int | None = None
    log_length: int | None = None
    readings: int | None = None
    lag: int | None = None
    has_quorum: bool = False
    health: str = "unreachable"
    state_digest: str | None = None
    # fsync, or none: acknowledged writes are not power-cut safe (DURABILITY_NONE_NOTE).
    durability: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def gather_rows(urls: list[str], token: str | None = None,
                      timeout_s: float = 2.0) -> list[NodeRow]:
    """One row per node: the given URLs plus any member another node tells us about."""
    async with aiohttp.ClientSession() as session:
        answers = await survey(urls, lambda url: NodeApi(url, session, token=token,
                                                         timeout_s=timeout_s))
    return _rows({url: _describe(answer) for url, answer in answers.items()})


def _describe(answer: dict[str, Any] | Exception) -> dict[str, Any] | str:
    """A node's status, or why it has none, as its row's `error` tells it."""
    if isinstance(answer, ApiError):
        return f"HTTP {answer.status}"
    return answer if isinstance(answer, dict) else type(answer).__name__


def _rows(answers: dict[str, dict[str, Any] | str]) -> list[NodeRow]:
    reachable = {u: a for u, a in answers.items() if isinstance(a, dict)}
    leaders = [a for a in reachable.values() if a["role"] == "leader"]
    # With two self-declared leaders (a partitioned old one), trust the higher term.
    leader = max(leaders, key=lambda a: a["term"]) if leaders else None
    reference = leader["commit_index"] if leader else max(
        (a["commit_index"] for a in reachable.values()), default=0)
    rows = []
    for url, answer in answers.items():
        if not isinstance(answer, dict):
            rows.append(NodeRow(node_id=None, http_url=url, role="unreachable", error=answer))
            continue
        lag = max(0, reference - answer["applied_index"])
        row = NodeRow(
            node_id=answer["node_id"],
            http_url=url,
            role=answer["role"],
            leader_id=(answer.get("leader") or {}).get("node_id")
            or (answer.get("leader") or {}).get("raft_address"),
            term=answer["term"],
            commit_index=answer["commit_index"],
            applied_index=answer["applied_index"],
            log_length=answer["log_length"],
            readings=answer["total_readings"],
            lag=lag,
            has_quorum=answer["has_quorum"],
            state_digest=answer.get("state_digest"),
            durability=answer.get("durability"),
        )
        row.health = _health(row, answer)
        rows.append(row)
    rows.sort(key=lambda r: (r.node_id is None, r.node_id or r.http_url))
    return rows


def _health(row: NodeRow, answer: dict[str, Any]) -> str:
    if answer.get("leader") is None:
        return "no leader"
    if not row.has_quorum:
        return "no quorum"
    if row.lag and row.lag > 100:
        return f"lagging ({row.lag})"
    return "ok"


COLUMNS = [
    ("ID", "node_id"), ("HTTP", "http_url"), ("ROLE", "role"), ("LEADER", "leader_id"),
    ("TERM", "term"), ("COMMIT", "commit_index"), ("APPLIED", "applied_index"),
    ("LOG", "log_length"), ("READINGS", "readings"), ("LAG", "lag"), ("HEALTH", "health"),
    ("DURABILITY", "durability"),
]

DURABILITY_NONE_NOTE = ("durability none: entries are never fsync'd; a power cut can lose "
                        "acknowledged writes")


def render_table(rows: list[NodeRow]) -> str:
    cells = [[title for title, _ in COLUMNS]]
    for row in rows:
        values = row.as_dict()
        cells.append(["-" if values[key] is None else str(values[key]) for _, key in COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                      for line in cells)
    if any(row.durability == "none" for row in rows):
        table += f"\nnote: {DURABILITY_NONE_NOTE}"
    return table
