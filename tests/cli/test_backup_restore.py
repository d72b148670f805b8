"""Backup and restore with real processes: a 3-node cluster loaded with the Intel Lab
sample, a backup through a follower while writes go on, a restore into a new 3-node
cluster that must hold exactly the backed-up state; damage and a missing token refused."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lithair_node import api
from lithair_node.lab.local_cluster import LocalCluster, free_port_run
from lithair_node.lab.secret_files import TOKEN_FILE, write_secret
from lithair_node.machine import backup_file
from lithair_node.machine.state import StateMachine
from lithair_node.polling import wait_until
from tests.http_helpers import get, post_json

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "intel_lab_sample.txt"
TOKEN = "backup-test-token"


def lithair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lithair_node", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def started(cluster: LocalCluster) -> LocalCluster:
    cluster.start()
    try:
        cluster.wait_ready(timeout_s=60)
    except BaseException:
        for index in range(cluster.nodes):
            print(f"--- {cluster.specs[index].node_id} ---\n{cluster.log_tail(index)}")
        cluster.stop()
        raise
    return cluster


class Writer(threading.Thread):
    """Writes small batches to the leader until stopped: the backup runs under load."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.acked = url, threading.Event(), 0

    def run(self) -> None:
        auth = {api.AUTHORIZATION: f"Bearer {TOKEN}"}
        while not self.stop.is_set():
            n = self.acked
            body = {"readings": [{"sensor_id": f"live-{n % 7}", "timestamp": 1_000_000 + n * 10 + i,
                                  "temperature": float(i)} for i in range(10)]}
            if post_json(self.url, body, key=f"live-{n}", headers=auth).status == 200:
                self.acked += 1


@pytest.fixture
def source(tmp_path: Path):
    token_file = write_secret(tmp_path / "src" / TOKEN_FILE, TOKEN)
    cluster = started(LocalCluster(tmp_path / "src", token_file=token_file))
    yield cluster
    cluster.stop()


def test_backup_under_writes_restores_to_the_same_state(source: LocalCluster,
                                                         tmp_path: Path) -> None:
    loaded = lithair("load", str(SAMPLE), "--format", "intel-lab", "--node", source.urls[0],
                     "--token", TOKEN)
    assert loaded.returncode == 0, loaded.stderr
    leader = source.leader_index()
    assert leader is not None
    follower = source.urls[(leader + 1) % 3]

    # Without the token: 401 in the JSON error shape, and the CLI says so.
    refused = get(f"{follower}{api.BACKUP}")
    assert refused.status == 401 and refused.error["code"] == api.UNAUTHORIZED
    wrong = lithair("backup", "--node", follower, "--out", str(tmp_path / "x.lbak"),
                    "--token", "not-the-token")
    assert wrong.returncode != 0 and "refused the backup: 401 unauthorized" in wrong.stderr
    assert not (tmp_path / "x.lbak").exists() and not (tmp_path / "x.lbak.tmp").exists()

    # A quiet point: the backup's header digest is the source's digest at its index.
    quiet = source.wait_converged()[0]
    quiet_file = tmp_path / "quiet.lbak"
    taken = lithair("backup", "--node", follower, "--out", str(quiet_file), "--token", TOKEN)
    assert taken.returncode == 0, taken.stderr
    quiet_info = backup_file.verify(quiet_file)
    assert (quiet_info.applied_index, quiet_info.digest, quiet_info.readings) == \
        (quiet["applied_index"], quiet["state_digest"], quiet["total_readings"])
    assert sorted(m["raft"] for m in quiet_info.cluster) == \
        sorted(s.raft_address for s in source.specs)

    writer = Writer(source.urls[leader])
    writer.start()
    try:
        wait_until(lambda: writer.acked >= 5, 30)  # writes are going on
        backup = tmp_path / "live.lbak"
        taken = lithair("backup", "--node", follower, "--out", str(backup), "--token", TOKEN,
                        "--consistency", "linearizable")
        assert taken.returncode == 0, taken.stderr
        assert f"index {backup_file.verify(backup).applied_index}" in taken.stdout
        acked_at_backup = writer.acked
        wait_until(lambda: writer.acked >= acked_at_backup + 5, 30)  # and go on after it
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert writer.acked > 0
    info, view = backup_file.read_state(backup)
    assert info.applied_index > quiet_info.applied_index
    assert info.readings > quiet_info.readings  # the live writes it covers
    in_process = StateMachine()
    in_process.load(view)
    assert in_process.digest() == info.digest
    after = source.wait_converged()[0]
    assert after["total_readings"] > info.readings  # writes went on after the backup

    # Restore into a new dir, refuse a non-empty one, start the new cluster.
    http, raft = [free_port_run(3)], [free_port_run(3)]
    target = tmp_path / "restored"
    restored = lithair("restore", str(backup), "--data-dir", str(target), "--nodes", "3",
                       "--http-port", str(http[0]), "--raft-port", str(raft[0]))
    assert restored.returncode == 0, restored.stderr
    again = lithair("restore", str(backup), "--data-dir", str(target))
    assert again.returncode != 0 and "not empty" in again.stderr
    new = started(LocalCluster(target, http_port=http[0], raft_port=raft[0],
                               token_file=target / TOKEN_FILE))
    try:
        stats = new.wait_converged()
        assert {(s["state_digest"], s["total_readings"]) for s in stats} == \
            {(info.digest, info.readings)}
        assert all(s["applied_index"] > info.applied_index for s in stats)
        # Each node started from the seeded snapshot, in terms above the backup's.
        for index in range(3):
            assert f"restored snapshot at index {info.applied_index}" in new.log_tail(index, 400)
            assert new.status(index)["term"] > info.applied_term
        token = (target / TOKEN_FILE).read_text().strip()
        assert token != TOKEN
        assert post_json(new.urls[0], {"readings": [{"sensor_id": "after-restore",
                                                     "timestamp": 5, "t": 1.0}]},
                         headers={api.AUTHORIZATION: f"Bearer {token}"}).status == 200
        assert new.wait_converged()[0]["total_readings"] == info.readings + 1
    finally:
        new.stop()


def test_a_flipped_byte_is_refused_by_restore(source: LocalCluster, tmp_path: Path) -> None:
    assert post_json(source.urls[0], {"readings": [{"sensor_id": "s", "timestamp": 1, "t": 2.0}]},
                     headers={api.AUTHORIZATION: f"Bearer {TOKEN}"}).status == 200
    backup = tmp_path / "b.lbak"
    assert lithair("backup", "--node", source.urls[1], "--out", str(backup),
                   "--token", TOKEN).returncode == 0
    data = bytearray(backup.read_bytes())
    data[len(data) // 2] ^= 0x10
    backup.write_bytes(bytes(data))
    refused = lithair("restore", str(backup), "--data-dir", str(tmp_path / "r"))
    assert refused.returncode != 0
    assert "checksum mismatch: the backup is damaged" in refused.stderr
    assert not (tmp_path / "r").exists()
