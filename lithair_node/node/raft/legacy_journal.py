"""Data dirs of earlier versions hold PySyncObj's own journal (`raft.journal` + `.meta`, an
mmap'd FileJournal). On the first start with our journal its entries, term and vote are
copied into the new (empty) journal and made durable, then the old files are renamed to
`*.migrated`: a node upgraded in place keeps its log, so a whole cluster can be upgraded."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pysyncobj.journal import FileJournal

from lithair_node.node.raft.journal import DurableJournal

log = logging.getLogger(__name__)

MIGRATED_SUFFIX = ".migrated"


def migrate_legacy_journal(legacy: Path, journal: DurableJournal) -> bool:
    """True if entries were copied. Never touches a journal that already has entries."""
    if not legacy.exists() or len(journal):
        return False
    copied = False
    if legacy.stat().st_size:  # PySyncObj cannot open an empty journal (nothing to keep)
        old = FileJournal(str(legacy))
        try:
            for position in range(len(old)):
                command, index, term = old[position]
                journal.add(bytes(command), index, term)
            journal.setCurrentTerm(old.getCurrentTerm(), old.getVotedForNodeId())
            journal.setRaftCommitIndex(old.getRaftCommitIndex())
            copied = len(old) > 0
        finally:
            old._destroy()
        if not journal.flush(timeout=60):
            raise OSError(f"migrating {legacy}: the new journal did not become durable")
    for path in (legacy, legacy.with_name(legacy.name + ".meta")):
        if path.exists():
            os.replace(path, path.with_name(path.name + MIGRATED_SUFFIX))
    log.warning("migrated PySyncObj's journal %s into %s (%d entries)", legacy,
                journal.describe()["directory"], len(journal))
    return copied
