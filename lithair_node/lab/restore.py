"""`lithair restore`: a new cluster's data dirs, seeded from a backup file.

The layout is `cluster up`'s (LocalCluster: DIR/node1..nodeN, ports counted up from the
first ones, a fresh Raft password and token in DIR), so `lithair cluster up --data-dir DIR
--nodes N` with the same ports starts the restored cluster. Each node gets the backup's
state as its own snapshot (node/raft/seed.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.lab.secret_files import TOKEN_FILE, ensure_secret_file
from lithair_node.machine import backup_file
from lithair_node.machine.capture import StateView
from lithair_node.machine.state import StateMachine
from lithair_node.node.raft.seed import seed_data_dir


class RestoreError(Exception):
    pass


@dataclass(frozen=True)
class Restored:
    info: backup_file.BackupInfo
    cluster: LocalCluster
    snapshot_bytes: int


def restore(backup: Path, data_dir: Path, *, nodes: int, host: str, http_port: int,
            raft_port: int) -> Restored:
    if data_dir.exists() and any(data_dir.iterdir()):
        raise RestoreError(f"{data_dir} is not empty: restore only seeds a new cluster")
    try:
        info, view = backup_file.read_state(backup)
    except backup_file.BackupError as exc:
        raise RestoreError(f"refusing to restore: {exc}") from None
    # The state as the nodes will load it must hash to what the source node recorded.
    loaded = _digest_of(view)
    if loaded != info.digest:
        raise RestoreError(f"refusing to restore: {backup} holds a state whose digest "
                           f"{loaded} is not the recorded {info.digest}")
    data_dir.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster(data_dir, nodes=nodes, host=host, http_port=http_port,
                           raft_port=raft_port)  # writes a fresh Raft password
    cluster.token_file = ensure_secret_file(data_dir, TOKEN_FILE)
    members = [spec.raft_address for spec in cluster.specs]
    size = 0
    for spec in cluster.specs:
        size = seed_data_dir(spec.data_dir, view, members)
    return Restored(info, cluster, size)


def _digest_of(view: StateView) -> str:
    state = StateMachine()
    state.load(view)
    return state.digest()
