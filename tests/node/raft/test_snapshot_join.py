"""A new member catches up through the leader's snapshot when the log it would need has been
compacted away (README, Membership and "Snapshots (log compaction)"): a 3-node cluster that
snapshots every few entries, enough writes that every node has compacted, then a fourth
node, started first (it must answer the Raft-password probe), added with `lithair members
add` through a follower."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lithair_node import api
from lithair_node.client.blocking_api import http_json
from lithair_node.lab.local_cluster import LocalCluster, free_ports
from tests.http_helpers import post_json, stats, wait_for
from tests.node.raft.test_membership import members_cli

SNAPSHOT_ENTRIES = 40
BATCHES = 4 * SNAPSHOT_ENTRIES


def snapshot_info(url: str) -> dict:
    code, body = http_json(f"{url}{api.CLUSTER_STATUS}")
    assert code == 200, body
    return body["snapshot"]


def test_a_new_member_catches_up_through_a_snapshot(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "cluster",
                           extra_args=("--snapshot-entries", str(SNAPSHOT_ENTRIES))).start()
    node4: subprocess.Popen[bytes] | None = None
    try:
        cluster.wait_ready(timeout_s=60)
        leader = cluster.leader_index()
        assert leader is not None
        for j in range(BATCHES):  # one log entry each
            body = {"readings": [{"sensor_id": f"snap-{j % 7}", "timestamp": j, "t": float(j)}]}
            answer = post_json(cluster.urls[leader], body, key=f"snap-{j}")
            assert answer.status == 200, answer
        # Every node has compacted its log past the first entries.
        wait_for(lambda: all(snapshot_info(u)["count"] >= 2 for u in cluster.urls), 60,
                 what="a snapshot on every node")
        cluster.wait_converged()

        http_port, raft_port = free_ports(2)
        new_raft, url4 = f"127.0.0.1:{raft_port}", f"http://127.0.0.1:{http_port}"
        peers = ",".join(spec.raft_address for spec in cluster.specs)
        with open(tmp_path / "node4.log", "wb") as log:
            node4 = subprocess.Popen(
                [sys.executable, "-m", "lithair_node", "serve", "--node-id", "node4",
                 "--http", f"127.0.0.1:{http_port}", "--raft", new_raft, "--peers", peers,
                 "--data-dir", str(tmp_path / "node4"),
                 "--snapshot-entries", str(SNAPSHOT_ENTRIES),
                 "--raft-password-file", str(cluster.password_file)],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: http_json(f"{url4}{api.HEALTH}")[0] == 200, 60, what="node4 serving")
        assert snapshot_info(url4)["installed"] == 0
        via = next(i for i in range(3) if i != leader)
        added = members_cli("add", new_raft, "--node", cluster.urls[via])
        assert added.returncode == 0, added.stderr

        wait_for(lambda: http_json(f"{url4}{api.READYZ}")[0] == 200, 60, what="node4 ready")
        every = [*cluster.urls, url4]
        wait_for(lambda: len({(stats(u)["applied_index"], stats(u)["state_digest"])
                              for u in every}) == 1, 60, what="node4 holds the same digest")
        assert stats(url4)["total_readings"] == BATCHES
        info = snapshot_info(url4)
        assert info["installed"] >= 1, info  # from the leader's snapshot, not the log
        assert info["installed_index"] >= SNAPSHOT_ENTRIES, info
        # A member now: the cluster's writes reach it.
        answer = post_json(cluster.urls[leader], {"readings": [
            {"sensor_id": "after-join", "timestamp": 1, "t": 1.0}]})
        assert answer.status == 200, answer
        wait_for(lambda: stats(url4)["total_readings"] == BATCHES + 1, 30,
                 what="a later write on node4")
    finally:
        if node4 is not None:
            node4.terminate()
            node4.wait(timeout=30)
        cluster.stop()
