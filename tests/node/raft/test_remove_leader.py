"""Removing the leader through a follower, with the CLI: it works, or it changes nothing."""

from __future__ import annotations

from lithair_node.lab.local_cluster import LocalCluster
from tests.http_helpers import get, post_json, wait_for
from tests.node.raft.test_membership import members_cli


def members_of(url: str) -> list[dict]:
    return get(f"{url}/api/v1/members").body["members"]


def test_remove_the_leader_through_a_follower(fresh_cluster: LocalCluster) -> None:
    cluster = fresh_cluster
    leader = cluster.leader_index()
    assert leader is not None
    down, via = (i for i in range(3) if i != leader)
    leader_address = cluster.specs[leader].raft_address

    # With one follower down, removing the leader would leave 1 of 2 connected: refused,
    # and leadership has not moved.
    cluster.stop_node(down)
    wait_for(lambda: any(not m["connected"] for m in members_of(cluster.urls[leader])), 30,
             what="the leader to see the stopped follower disconnected")
    refused = members_cli("remove", leader_address, "--node", cluster.urls[via])
    assert refused.returncode == 1
    assert "not a majority" in refused.stderr
    assert cluster.leader_index() == leader
    assert len(members_of(cluster.urls[via])) == 3

    cluster.start_node(down)
    cluster.wait_ready(timeout_s=60)
    wait_for(lambda: all(m["connected"] for m in members_of(cluster.urls[leader])), 30,
             what="the leader to see every follower again")
    removed = members_cli("remove", leader_address, "--node", cluster.urls[via])
    assert removed.returncode == 0, removed.stderr
    assert leader_address not in removed.stdout
    remaining = [cluster.urls[i] for i in range(3) if i != leader]

    def removed_everywhere() -> bool:
        listings = [members_of(url) for url in remaining]
        return all(len(m) == 2 and sum(x["leader"] for x in m) == 1 for m in listings)

    wait_for(removed_everywhere, 30, what="the two others to list two members and a leader")
    cluster.stop_node(leader)
    answer = post_json(remaining[0], {"readings": [{"sensor_id": "after-removal",
                                                    "timestamp": 1, "t": 1.0}]})
    assert answer.status == 200, answer
    cluster.wait_converged(indexes=[i for i in range(3) if i != leader])
