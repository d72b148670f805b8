"""Dynamic membership: add a 4th node that catches up, remove nodes, writes never stop."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from lithair_node.client.blocking_api import http_json
from lithair_node.lab.local_cluster import LocalCluster, free_ports
from tests.http_helpers import get, post_json, request, stats, wait_for


def members_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lithair_node", "members", *args],
                          capture_output=True, text=True, timeout=60)


class Writer(threading.Thread):
    """Writes small batches to the cluster until stopped; records every answer."""

    def __init__(self, urls: list[str], name: str) -> None:
        super().__init__(daemon=True)
        self.urls = urls
        self.name = name
        self.stop = threading.Event()
        self.accepted = 0  # readings the cluster reported as newly stored
        self.acked = 0

    def run(self) -> None:
        i = attempt = 0
        while not self.stop.is_set():
            body = {"readings": [{"sensor_id": self.name, "timestamp": 10_000 + i, "t": 1.0}]}
            url = self.urls[attempt % len(self.urls)]
            attempt += 1
            try:
                answer = post_json(url, body, key=f"{self.name}-{i}", timeout_s=20)
            except OSError:  # a node that was just stopped: try the next one
                continue
            if answer.status == 200:  # retried with the same key until acked
                self.acked += 1
                self.accepted += answer.body["accepted"]
                i += 1


def test_add_a_fourth_node_then_remove_nodes_while_writing(fresh_cluster: LocalCluster,
                                                            tmp_path) -> None:
    cluster = fresh_cluster
    # Enough data that the newcomer has something real to catch up on.
    for j in range(20):
        body = {"readings": [{"sensor_id": f"pre-{j}", "timestamp": t, "t": float(t)}
                             for t in range(500)]}
        assert post_json(cluster.urls[j % 3], body).status == 200
    writer = Writer(cluster.urls, "w1")
    writer.start()
    try:
        http_port, raft_port = free_ports(2)
        new_raft = f"127.0.0.1:{raft_port}"
        # Started first: the leader adds only a node that answers with the Raft password.
        peers = ",".join(spec.raft_address for spec in cluster.specs)
        with open(tmp_path / "node4.log", "wb") as log:
            node4 = subprocess.Popen(
                [sys.executable, "-m", "lithair_node", "serve", "--node-id", "node4",
                 "--http", f"127.0.0.1:{http_port}", "--raft", new_raft, "--peers", peers,
                 "--data-dir", str(tmp_path / "node4"),
                 "--raft-password-file", str(cluster.password_file)],
                stdout=log, stderr=subprocess.STDOUT)
        url4 = f"http://127.0.0.1:{http_port}"
        try:
            wait_for(lambda: http_json(f"{url4}/health")[0] == 200, 60, what="node4 serving")
            added = members_cli("add", new_raft, "--node", cluster.urls[1], "--json")
            assert added.returncode == 0, added.stderr
            assert new_raft in added.stdout
            wait_for(lambda: http_json(f"{url4}/readyz")[0] == 200, 60, what="node4 ready")

            def same_digest() -> bool:
                digests = {stats(u)["state_digest"] for u in [*cluster.urls, url4]}
                applied = {stats(u)["applied_index"] for u in [*cluster.urls, url4]}
                return len(digests) == 1 and len(applied) == 1

            writer.stop.set()
            writer.join(timeout=30)
            wait_for(same_digest, timeout_s=60, what="node4 holds the same digest")
            assert writer.acked > 0
            assert stats(url4)["total_readings"] == 10_000 + writer.accepted == 10_000 + writer.acked
            first_writer = writer.accepted
            listed = members_cli("list", "--node", url4, "--json")
            assert listed.returncode == 0
            listing = json.loads(listed.stdout)["members"]
            assert len(listing) == 4 and sum(m["leader"] for m in listing) == 1
            assert {m["node_id"] for m in listing} == {"node1", "node2", "node3", "node4"}

            # Remove a follower, then the leader; writes keep being accepted.
            writer = Writer([*cluster.urls, url4], "w2")
            writer.start()
            leader = cluster.leader_index()
            follower = next(i for i in range(3) if i != leader)
            removed = request("DELETE", f"{cluster.urls[leader]}/api/v1/members/"
                              f"{cluster.specs[follower].raft_address}")
            assert removed.status == 200, removed
            cluster.stop_node(follower)
            before = writer.acked
            wait_for(lambda: writer.acked > before + 5, timeout_s=60, what="writes after removing a follower")

            removed = request("DELETE", f"{cluster.urls[leader]}/api/v1/members/"
                              f"{cluster.specs[leader].raft_address}")
            assert removed.status == 200, removed
            assert all(m["raft_address"] != cluster.specs[leader].raft_address
                       for m in removed.body["members"])
            cluster.stop_node(leader)
            writer.urls = [u for i, u in enumerate(cluster.urls) if i not in (leader, follower)]
            writer.urls.append(url4)
            before = writer.acked
            wait_for(lambda: writer.acked > before + 5, timeout_s=60, what="writes after removing the leader")
            writer.stop.set()
            writer.join(timeout=30)
            remaining = writer.urls
            assert {get(f"{u}/api/v1/members").body["members"].__len__() for u in remaining} == {2}
            wait_for(lambda: len({stats(u)["state_digest"] for u in remaining}) == 1,
                     timeout_s=60, what="the two remaining members agree")
            assert stats(remaining[0])["total_readings"] == 10_000 + first_writer + writer.accepted
        finally:
            node4.terminate()
            node4.wait(timeout=30)
    finally:
        writer.stop.set()
