"""Seed a fresh node's data dir from a captured state, so that PySyncObj starts from it as
from a snapshot of its own: `lithair restore` (lab/restore.py) calls this once per new
member, before any of them has run.

- `snapshot.lsnap`: the state, with Raft metadata naming the backup's index and term as the
  last applied entry and the NEW members as the cluster. PySyncObj loads it on its first
  tick (clears the empty journal, adds these two entries, applied index = the backup's).
- `journal/term-vote.json`: the backup's term, no vote. A fresh node would start at term 0
  and append new entries with terms below the snapshot's: a node holding only the
  snapshot would then look more up to date (higher last term) than one holding later
  committed entries, and could win an election and overwrite them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lithair_node.machine import snapshot_file
from lithair_node.machine.capture import StateView
from lithair_node.node.config import JOURNAL_DIR, SNAPSHOT_FILE
from lithair_node.node.raft.journal.durable_file import make_dirs_durably
from lithair_node.node.raft.journal.fileio import OsFileIO
from lithair_node.node.raft.journal.meta import TermVote, write_term_vote


def seed_data_dir(data_dir: Path, view: StateView, members: list[str]) -> int:
    """Write the snapshot and the term file into the (new, empty) `data_dir`; returns the
    snapshot's size. `members`: every new member's Raft address, this one's included."""
    index, term = view.counters.applied_index, view.counters.applied_term
    # The source cluster's member table (Raft address -> node id, URL) means nothing here;
    # the new members announce themselves. It is not part of the digest.
    view = dataclasses.replace(view, members={})
    raft_meta = {
        # (command, index, term): PySyncObj only compares these entries, never applies them.
        "last": [b"", index, term],
        "prev": [b"", index - 1, term],
        "cluster": sorted(members),
    }
    make_dirs_durably(data_dir / JOURNAL_DIR)
    write_term_vote(OsFileIO(), str(data_dir / JOURNAL_DIR), TermVote(term, None))
    return snapshot_file.write_atomic(data_dir / SNAPSHOT_FILE, view, raft_meta)
