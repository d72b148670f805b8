"""Offline recovery: a cluster whose quorum is gone for good gets it back with
`lithair members force`, its data intact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lithair_node.client.blocking_api import http_json
from lithair_node.lab.local_cluster import LocalCluster, free_ports
from lithair_node.node.raft.forced_voters import force_file
from tests.http_helpers import get, post_json, request, stats, wait_for
from tests.node.raft.test_membership import members_cli


def start_extra_node(cluster: LocalCluster, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    http_port, raft_port = free_ports(2)
    raft = f"127.0.0.1:{raft_port}"
    peers = ",".join(spec.raft_address for spec in cluster.specs)
    data_dir.mkdir(parents=True)
    with open(data_dir / "node.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "lithair_node", "serve", "--node-id", data_dir.name,
             "--http", f"127.0.0.1:{http_port}", "--raft", raft, "--peers", peers,
             "--data-dir", str(data_dir), "--raft-password-file", str(cluster.password_file)],
            stdout=log, stderr=subprocess.STDOUT)
    wait_for(lambda: http_json(f"http://127.0.0.1:{http_port}/health")[0] == 200, 60,
             what=f"{data_dir.name} serving")
    return process, raft


def member_count(url: str) -> int:
    return len(get(f"{url}/api/v1/members").body["members"])


def test_force_voters_brings_back_a_cluster_that_lost_its_quorum(fresh_cluster: LocalCluster,
                                                                  tmp_path: Path) -> None:
    cluster = fresh_cluster
    for j in range(5):
        body = {"readings": [{"sensor_id": f"kept-{j}", "timestamp": t, "t": float(t)}
                             for t in range(100)]}
        assert post_json(cluster.urls[j % 3], body).status == 200
    # Three members that then die for good: 6 members, 3 alive, a majority is 4.
    extras = []
    try:
        for name in ("ghost1", "ghost2", "ghost3"):
            process, raft = start_extra_node(cluster, tmp_path / name)
            extras.append(process)
            added = request("POST", f"{cluster.urls[0]}/api/v1/members",
                            json.dumps({"raft_address": raft}).encode(),
                            {"Content-Type": "application/json"}, 30)
            assert added.status == 200, added
    finally:
        for process in extras:
            process.kill()
            process.wait(timeout=10)
    assert member_count(cluster.urls[0]) == 6

    def leaderless() -> bool:
        return all(cluster.status(i)["leader"] is None for i in range(3))

    # Every real node is up, and yet no leader: restarting them cannot help either (each
    # one's journal says 6 members).
    wait_for(leaderless, 30, what="the three real nodes to lose their leader")
    assert post_json(cluster.urls[0], {"readings": [{"sensor_id": "x", "timestamp": 1, "t": 1.0}]},
                     timeout_s=30).status == 503
    cluster.stop()

    voters = ",".join(spec.raft_address for spec in cluster.specs)
    forced = members_cli("force", *(arg for spec in cluster.specs
                                    for arg in ("--data-dir", str(spec.data_dir))),
                         "--voters", voters)
    assert forced.returncode == 0, forced.stderr
    assert all(force_file(spec.data_dir).exists() for spec in cluster.specs)

    cluster.start()
    cluster.wait_ready(timeout_s=60)
    assert {member_count(url) for url in cluster.urls} == {3}
    answer = post_json(cluster.urls[1], {"readings": [{"sensor_id": "after", "timestamp": 1,
                                                       "t": 1.0}]})
    assert answer.status == 200, answer
    cluster.wait_converged()
    assert stats(cluster.urls[2])["total_readings"] == 501
    # Applied, recorded in a snapshot, then retired: a later restart stays healthy.
    wait_for(lambda: not any(force_file(s.data_dir).exists() for s in cluster.specs), 60,
             what="the force-voters files to be retired")
    assert all(force_file(s.data_dir).with_name("force-voters.applied").exists()
               for s in cluster.specs)
    cluster.stop()
    cluster.start()
    cluster.wait_ready(timeout_s=60)
    assert {member_count(url) for url in cluster.urls} == {3}
    assert stats(cluster.urls[0])["total_readings"] == 501
