"""Checks over the client's history after a fault run, on top of history.check_history.

- integrity_counts: the headline numbers (lost, duplicated, divergent nodes) from the
  per-node comparison check_history made.
- acked_term_problems: what Raft guarantees about the (raft_index, raft_term) pairs clients
  were acknowledged with. An index holds one committed entry, so two acks naming the same
  index must name the same term (Log Matching); and terms never decrease along the log, so
  sorted by index the acked terms must not go down. An ack off an entry a new leader later
  overwrote (a stale leader acknowledging what it could not commit) shows up here as well
  as a missing batch.

Not asserted, on purpose: "an ack answered after a newer leader was elected carries the
newer term". Raft allows an entry of an old term to be committed later by another leader
(Raft paper, section 5.4.2), and it keeps its term; presence on every node is the check.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lithair_node.client.cluster_client import ACKED
from lithair_node.lab.history import BatchRecord, CheckReport


def acked_entries(records: list[BatchRecord]) -> list[tuple[int, int]]:
    """(raft_index, raft_term) of every acked batch (several batches share an entry)."""
    pairs = []
    for record in records:
        response = record.result.response or {}
        if record.status == ACKED and "raft_index" in response and "raft_term" in response:
            pairs.append((int(response["raft_index"]), int(response["raft_term"])))
    return pairs


def acked_term_problems(records: list[BatchRecord]) -> dict[str, Any]:
    terms_at: dict[int, set[int]] = defaultdict(set)
    for index, term in acked_entries(records):
        terms_at[index].add(term)
    conflicts = [{"raft_index": index, "terms": sorted(terms)}
                 for index, terms in sorted(terms_at.items()) if len(terms) > 1]
    inversions = []
    previous: tuple[int, int] | None = None
    for index in sorted(terms_at):
        term = min(terms_at[index])
        if previous is not None and term < previous[1]:
            inversions.append({"raft_index": index, "term": term,
                               "after_index": previous[0], "after_term": previous[1]})
        previous = (index, max(terms_at[index]))
    return {"acked_entries": len(terms_at), "index_term_conflicts": conflicts,
            "term_inversions": inversions}


def integrity_counts(report: CheckReport, records: list[BatchRecord]) -> dict[str, Any]:
    """lost: acked batches missing on at least one node. duplicated: batches applied more
    than once on the worst node (a batch applied twice stores nothing new but counts its
    readings as duplicates and one more accepted batch). divergent: nodes whose digest or
    set of batches differs from the majority's."""
    missing: set[str] = set()
    failed_present: set[str] = set()
    duplicated = 0
    duplicate_readings = 0
    for node in report.nodes:
        missing.update(node.missing_acked)
        failed_present.update(node.present_failed)
        stats = node.stats
        if node.reachable:
            duplicate_readings = max(duplicate_readings, int(stats.get("duplicate_readings") or 0))
            duplicated = max(duplicated, int(stats.get("batches_accepted") or 0) - node.present)
    reachable = [n for n in report.nodes if n.reachable]
    views = [(n.stats.get("state_digest"), n.present, n.expected_readings) for n in reachable]
    common = max(set(views), key=views.count) if views else None
    divergent = [n.url for n, view in zip(reachable, views, strict=True) if view != common]
    divergent += [n.url for n in report.nodes if not n.reachable]
    unknown = [r for r in records if r.status == "unknown"]
    return {
        "lost": len(missing),
        "lost_keys": sorted(missing)[:20],
        "duplicated": duplicated,
        "duplicate_readings": duplicate_readings,
        "divergent_nodes": divergent,
        "failed_but_present": len(failed_present),
        "unknown": len(unknown),
        "unknown_present": max((n.unknown_present for n in reachable), default=0),
    }
