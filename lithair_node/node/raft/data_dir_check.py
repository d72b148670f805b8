"""What `lithair check --data-dir DIR` reports: the journal (journal/check.py), the snapshot,
and whether the two fit together. Read-only: it never repairs anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lithair_node.machine import snapshot_file
from lithair_node.node.raft.journal import DamageKind, inspect_journal

JOURNAL_DIR = "journal"
SNAPSHOT_FILE = "snapshot.lsnap"
LEGACY_JOURNAL = "raft.journal"


def inspect_snapshot(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"file": str(path), "exists": False, "damage": None}
    try:
        view, raft_meta = snapshot_file.read_file(path)  # reads it whole: checks the trailer
    except (OSError, snapshot_file.SnapshotError) as error:
        return {"file": str(path), "exists": True, "bytes": path.stat().st_size,
                "damage": f"unreadable: {error}"}
    return {"file": str(path), "exists": True, "bytes": path.stat().st_size,
            "last_index": raft_meta["last"][1], "last_term": raft_meta["last"][2],
            "readings": view.counters.total_readings, "damage": None}


def inspect_data_dir(data_dir: Path) -> dict[str, Any]:
    """`damage`: what makes a node refuse to start on this dir, or start missing entries
    (corruption, an unreadable snapshot, a gap between snapshot and journal); `ok` is False
    then. `repairable`: a torn tail, what a crash leaves, cut off at the next start."""
    journal = inspect_journal(data_dir / JOURNAL_DIR)
    snapshot = inspect_snapshot(data_dir / SNAPSHOT_FILE)
    damage, repairable = [], []
    for item in journal["damage"]:
        line = f"{item['kind']}: {item['file']} at byte {item['offset']}: {item['reason']}"
        (repairable if item["kind"] == str(DamageKind.TORN_TAIL) else damage).append(line)
    if snapshot["damage"]:
        damage.append(f"snapshot {snapshot['file']}: {snapshot['damage']}")
    covered = snapshot.get("last_index", 0)
    first = journal["first_index"]
    # After a compaction the journal starts at the snapshot's previous entry; it must never
    # start past the entry after what the snapshot holds.
    if first is not None and first > covered + 1:
        damage.append(f"gap: the journal starts at index {first} but the snapshot only covers "
                      f"up to {covered}: entries {covered + 1}-{first - 1} are missing")
    return {
        "data_dir": str(data_dir),
        "journal": journal,
        "snapshot": snapshot,
        "legacy_journal": (data_dir / LEGACY_JOURNAL).exists(),
        "damage": damage,
        "repairable": repairable,
        "ok": not damage,
    }
