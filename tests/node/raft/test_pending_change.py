"""One membership change at a time, while the first one is in the Raft log but not committed
(README, Membership: "no other change is in progress", 409): both followers are SIGSTOPped
(their connections stay open, so the leader's majority check still counts them), a fourth
node that answers the probe is added, and its entry cannot commit until they continue. A
second change meanwhile is refused; once they continue, the first one commits."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

from lithair_node import api
from lithair_node.client.blocking_api import http_json
from lithair_node.lab.local_cluster import LocalCluster, free_ports
from tests.http_helpers import Answer, request, wait_for

# The leader keeps leading, and the first change keeps waiting for its commit, well past the
# moment the second one arrives.
SLOW = ("--leader-fallback-timeout", "20", "--commit-timeout", "20")


def members(url: str) -> set[str]:
    code, body = http_json(f"{url}{api.MEMBERS}")
    return {m["raft_address"] for m in body["members"]} if code == 200 else set()


def test_a_second_change_is_refused_while_the_first_is_uncommitted(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "cluster", extra_args=SLOW).start()
    node4: subprocess.Popen[bytes] | None = None
    try:
        cluster.wait_ready(timeout_s=60)
        leader = cluster.leader_index()
        assert leader is not None
        followers = [i for i in range(3) if i != leader]
        url = cluster.urls[leader]
        http_port, raft_port = free_ports(2)
        new_raft = f"127.0.0.1:{raft_port}"
        with open(tmp_path / "node4.log", "wb") as log:
            node4 = subprocess.Popen(
                [sys.executable, "-m", "lithair_node", "serve", "--node-id", "node4",
                 "--http", f"127.0.0.1:{http_port}", "--raft", new_raft,
                 "--peers", ",".join(s.raft_address for s in cluster.specs),
                 "--data-dir", str(tmp_path / "node4"), *SLOW,
                 "--raft-password-file", str(cluster.password_file)],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: http_json(f"http://127.0.0.1:{http_port}{api.HEALTH}")[0] == 200, 60,
                 what="node4 serving")

        for index in followers:
            cluster.signal_node(index, signal.SIGSTOP)
        first: list[Answer] = []
        adding = threading.Thread(target=lambda: first.append(request(
            "POST", f"{url}{api.MEMBERS}", json.dumps({"raft_address": new_raft}).encode(),
            {"Content-Type": "application/json"}, timeout_s=60)))
        adding.start()
        try:
            # Appended (the configuration changes on append), not committed: 3 of 4 needed.
            wait_for(lambda: new_raft in members(url), 15, what="node4's entry in the log")
            status = cluster.status(leader)
            assert status["role"] == "leader" and status["commit_index"] < status["log_length"], status
            second = request("DELETE", f"{url}{api.MEMBERS}/{cluster.specs[followers[0]].raft_address}")
            third = request("DELETE", f"{url}{api.MEMBERS}/{new_raft}")  # undoing it
        finally:
            for index in followers:
                cluster.signal_node(index, signal.SIGCONT)
            adding.join(timeout=60)
        assert second.status == 409, second
        assert "another membership change is in progress" in second.error["message"]
        assert third.status == 409, third
        assert first and first[0].status == 200, first
        every = [*cluster.urls, f"http://127.0.0.1:{http_port}"]
        wait_for(lambda: all(members(u) == {*(s.raft_address for s in cluster.specs), new_raft}
                             for u in every), 60, what="four members everywhere")
    finally:
        if node4 is not None:
            node4.terminate()
            node4.wait(timeout=30)
        cluster.stop()
