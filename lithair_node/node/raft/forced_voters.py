"""Offline recovery of a cluster that lost its quorum: a `force-voters` file in the data dir.

`lithair members force --data-dir DIR --voters A,B,C` writes it into each stopped node's data
dir (like rqlite's peers.json, or etcd's --force-new-cluster). PySyncObj builds the member
list at start from three places, in this order: `--peers` (SyncObj's constructor), the
snapshot's `cluster` field (`__loadDumpFile`), then every committed membership entry of the
journal as it is applied again (`__applyLogEntries` -> `__doChangeCluster`). A dead member
added by one of those entries would come back on every restart, so the file is applied
after them: once this node has applied what its journal held when it started, its
configuration is replaced by the forced one (`__updateClusterConfiguration`). No journal
record is edited, so this keeps working whatever the journal's format.

Until applied index passes the old journal's end, the override is asserted again after each
tick (an uncommitted membership entry of the old log could still commit and apply). Then
a snapshot is forced: it records the forced members, so the file has done its job and is
renamed `force-voters.applied` (kept as a record; a node ignores it).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lithair_node.node.config import ConfigError

log = logging.getLogger(__name__)

FORCE_FILE = "force-voters"
APPLIED_SUFFIX = ".applied"


def force_file(data_dir: Path) -> Path:
    return data_dir / FORCE_FILE


def encode_force_file(voters: list[str]) -> bytes:
    return json.dumps({"voters": sorted(voters)}, indent=2).encode() + b"\n"


def read_force_file(data_dir: Path) -> list[str] | None:
    path = force_file(data_dir)
    try:
        voters = json.loads(path.read_text(encoding="utf-8"))["voters"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"unreadable {path}: {exc}") from None
    if not isinstance(voters, list) or not all(isinstance(v, str) and v for v in voters):
        raise ConfigError(f"{path}: 'voters' must be a list of host:port")
    return voters


@dataclass
class ForcedVoters:
    """Applies one force-voters file on the Raft thread (RaftNode._on_tick)."""

    data_dir: Path
    self_address: str
    voters: frozenset[str]
    old_commit_index: int
    old_last_index: int
    snapshots_before: int | None = None  # set once the forced snapshot was asked for

    @classmethod
    def load(cls, data_dir: Path, self_address: str, raft_log: Any) -> ForcedVoters | None:
        voters = read_force_file(data_dir)
        if voters is None:
            return None
        if self_address not in voters:
            raise ConfigError(f"{force_file(data_dir)} does not list this node "
                              f"({self_address}): fix or remove it")
        log.warning("force-voters file found: this node's members will be %s", sorted(voters))
        return cls(data_dir, self_address, frozenset(voters),
                   old_commit_index=raft_log._SyncObj__raftCommitIndex,
                   old_last_index=raft_log._SyncObj__getCurrentLogIndex())

    def on_tick(self, raft_log: Any) -> bool:
        """True once done (the forced members are in a snapshot and the file is retired)."""
        if raft_log._SyncObj__needLoadDumpFile or raft_log.raftLastApplied < self.old_commit_index:
            return False  # the snapshot and the old journal are not applied yet
        others = self.voters - {self.self_address}
        current = {node.id for node in raft_log._SyncObj__otherNodes}
        if current != others:
            log.warning("forcing members %s (were %s)", sorted(self.voters),
                        sorted(current | {self.self_address}))
            raft_log._SyncObj__updateClusterConfiguration(sorted(others))
        if raft_log.raftLastApplied < self.old_last_index:
            return False
        count = raft_log.snapshots.info.get("count", 0)
        if self.snapshots_before is None:
            self.snapshots_before = count
            raft_log.forceLogCompaction()
            return False
        if count <= self.snapshots_before:
            return False
        path = force_file(self.data_dir)
        os.replace(path, path.with_name(FORCE_FILE + APPLIED_SUFFIX))
        log.warning("forced members %s are in the snapshot: %s retired", sorted(self.voters), path)
        return True
