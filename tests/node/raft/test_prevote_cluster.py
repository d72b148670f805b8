"""PreVote and leader stickiness with real processes: a node asking for votes in a higher
term does not depose a healthy leader, and a killed leader is still replaced promptly.
(The partitioned-follower case, with network namespaces: tests/lab/test_partitions.py.)"""

from __future__ import annotations

import time

from lithair_node.lab.leader_watch import LeaderWatch
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.node.config import RaftTuning
from tests.http_helpers import post_json, wait_for
from tests.node.raft.rogue_peer import RoguePeer

SLACK_S = 1.5  # scheduling noise on a busy 2-core box


def send_from_peer(peer: RoguePeer, message: dict[str, object]) -> None:
    """Send `message` to every node from the peer's own tick thread (its transport is not
    thread-safe), once every node is connected."""
    nodes = list(peer._SyncObj__otherNodes)  # type: ignore[attr-defined]
    wait_for(lambda: all(peer.isNodeConnected(n) for n in nodes),
             what="the peer to connect to every node")
    sent: list[bool] = []

    def on_tick() -> None:
        if not sent:
            for node in nodes:
                peer._SyncObj__transport.send(node, message)  # type: ignore[attr-defined]
            sent.append(True)

    peer.addOnTickCallback(on_tick)
    wait_for(lambda: sent, what="the peer's tick to send")


def test_a_vote_request_for_a_higher_term_does_not_depose_the_leader(
        fresh_cluster: LocalCluster) -> None:
    """What a node without PreVote (an old version, cut off for a while) does on rejoining:
    it asks for votes in a term far above the cluster's. Without stickiness every node
    adopted that term and the leader stepped down; now the followers ignore it and the
    leader campaigns once, above it, and stays leader."""
    cluster = fresh_cluster
    wait_for(lambda: cluster.leader_index() is not None, what="a leader")  # 0 is a leader
    leader = cluster.leader_index()
    assert leader is not None
    body = {"readings": [{"sensor_id": "s", "timestamp": 1, "temperature": 1.0}]}
    assert post_json(cluster.urls[leader], body).status == 200
    cluster.wait_converged()
    term = cluster.status(leader)["term"]
    password = cluster.password_file.read_text().strip()
    peer = RoguePeer([spec.raft_address for spec in cluster.specs], password)
    try:
        with LeaderWatch(cluster.urls) as watch:
            watch.wait_leader(10)
            sent_at = time.monotonic()
            send_from_peer(peer, {"type": "request_vote", "term": term + 5,
                                  "last_log_index": 10**9, "last_log_term": 10**9})
            after = watch.wait_leader(10, min_term=term + 6)
            events = [e for e in watch.events if e.at >= sent_at]
    finally:
        peer.destroy()
    assert after.node == cluster.urls[leader] and after.term == term + 6, after
    # Nobody adopted the disruptive term (without stickiness all three sat in it, leaderless,
    # until an election timer fired), and the leader was back at once, not after a timeout.
    assert not [e for e in events if e.term == term + 5], [e.describe(sent_at) for e in events]
    assert after.at - sent_at < RaftTuning.election_min_s, [e.describe(sent_at) for e in events]
    # Nobody else campaigned, led, or followed anyone else meanwhile.
    others = [e for e in events if e.node != cluster.urls[leader]]
    assert all(e.role == "follower" for e in others), [e.describe(sent_at) for e in events]
    assert all(e.leader_id in (None, after.node_id) for e in events), \
        [e.describe(sent_at) for e in events]
    assert post_json(cluster.urls[leader], {"readings": [
        {"sensor_id": "s", "timestamp": 2, "temperature": 2.0}]}).status == 200


def test_a_killed_leader_is_still_replaced_promptly(fresh_cluster: LocalCluster) -> None:
    """PreVote adds a round trip before an election; it must not hold a legitimate one."""
    cluster = fresh_cluster
    with LeaderWatch(cluster.urls) as watch:
        for _ in range(2):
            old = watch.wait_leader(30)
            index = cluster.urls.index(old.node)
            killed_at = time.monotonic()
            cluster.kill_node(index)
            new = watch.wait_leader(30, min_term=int(old.term or 0) + 1, exclude=old.node)
            took = new.at - killed_at
            assert took < RaftTuning.election_max_s + SLACK_S, watch.timeline(killed_at)
            # One election (a split vote may take a second term, never more here).
            assert int(old.term or 0) + 1 <= int(new.term or 0) <= int(old.term or 0) + 2
            cluster.start_node(index)
            cluster.wait_ready(timeout_s=60)
            # The restarted node rejoins without deposing the new leader.
            assert watch.wait_leader(30).term == new.term
