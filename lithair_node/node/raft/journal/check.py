"""What `lithair check --data-dir DIR` prints about a journal: read-only, never repairs."""

from __future__ import annotations

import os
from typing import Any

from lithair_node.node.raft.journal.fileio import FileIO, OsFileIO
from lithair_node.node.raft.journal.meta import read_commit_index, read_term_vote
from lithair_node.node.raft.journal.scan import DamageKind, JournalCorrupt, scan_journal


def inspect_journal(directory: str | os.PathLike[str], io: FileIO | None = None) -> dict[str, Any]:
    """Segments, first and last index, term, vote, durable index and any damage.

    `durable_index` is the last intact entry on disk: what a node opening this journal would
    count as durable (a torn tail after it would be cut off). `ok` is False when the node
    would refuse to start."""
    io = io or OsFileIO()
    path = os.path.abspath(os.fspath(directory))
    scan = scan_journal(io, path)
    damage = [scan.damage.as_dict()] if scan.damage else []
    try:
        term_vote = read_term_vote(io, path)
        term, voted_for = term_vote.term, term_vote.voted_for
    except JournalCorrupt as corrupt:
        damage.append(corrupt.damage.as_dict())
        term, voted_for = None, None
    entries = scan.entries
    return {
        "directory": path,
        "exists": io.exists(path),
        "segments": [segment.as_dict() for segment in scan.segments],
        "first_index": entries[0][1] if entries else None,
        "last_index": entries[-1][1] if entries else None,
        "entries": len(entries),
        "durable_index": entries[-1][1] if entries else 0,
        "term": term,
        "voted_for": voted_for,
        "commit_index": read_commit_index(io, path),
        "damage": damage,
        "ok": not any(item["kind"] == str(DamageKind.CORRUPT) for item in damage),
    }
