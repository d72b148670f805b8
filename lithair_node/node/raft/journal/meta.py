"""Raft's persistent state beside the entries: term and vote (durable before they take effect,
else a node restarted after a power cut could vote twice in a term), and the commit index (a
hint, saved lazily: a lost one is learnt again from the leader)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from lithair_node.node.raft.journal.durable_file import write_durably
from lithair_node.node.raft.journal.fileio import FileIO
from lithair_node.node.raft.journal.scan import Damage, DamageKind, JournalCorrupt

TERM_VOTE_FILE = "term-vote.json"
COMMIT_INDEX_FILE = "commit-index.json"


@dataclass(frozen=True)
class TermVote:
    term: int = 0
    voted_for: str | None = None


def read_term_vote(io: FileIO, directory: str) -> TermVote:
    """Missing: a fresh node. Unreadable: refuse, since this file is always replaced whole and
    a guessed term could let the node vote twice."""
    path = os.path.join(directory, TERM_VOTE_FILE)
    if not io.exists(path):
        return TermVote()
    try:
        stored = json.loads(io.read_file(path))
        term, voted_for = stored["term"], stored["voted_for"]
        if not isinstance(term, int) or not (voted_for is None or isinstance(voted_for, str)):
            raise ValueError(f"unexpected types in {stored!r}")
    except (ValueError, KeyError, TypeError) as error:
        raise JournalCorrupt(Damage(DamageKind.CORRUPT, path, 0, f"unreadable ({error})")) \
            from None
    return TermVote(term, voted_for)


def write_term_vote(io: FileIO, directory: str, state: TermVote) -> None:
    data = json.dumps({"term": state.term, "voted_for": state.voted_for}).encode()
    write_durably(os.path.join(directory, TERM_VOTE_FILE), data, io)


def read_commit_index(io: FileIO, directory: str) -> int | None:
    """None when missing or unreadable (then PySyncObj's default applies)."""
    path = os.path.join(directory, COMMIT_INDEX_FILE)
    try:
        value = json.loads(io.read_file(path))["commit_index"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) else None


def commit_index_file(directory: str, commit_index: int) -> tuple[str, bytes]:
    return (os.path.join(directory, COMMIT_INDEX_FILE),
            json.dumps({"commit_index": commit_index}).encode())
