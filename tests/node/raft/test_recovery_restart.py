"""A restarted node must not depose a healthy leader."""

from __future__ import annotations

from pathlib import Path

from lithair_node.lab.drills import Drill
from tests.cluster_fixtures import start_cluster


def test_follower_restarts_do_not_depose_the_leader(tmp_path: Path) -> None:
    """A restarting node reads its journal, loads its snapshot and replays entries before
    it hears from the leader; it must not count that time against its election timer
    (PySyncObj has no PreVote: a needless election bumps the term and deposes the leader).
    Short election timeouts and a long journal to replay (no snapshot) make the race
    likely, not certain: without syncobj.py's postponement this failed in about one
    run in three here (and one restart in three with 1.3M readings at 1-2 s timeouts)."""
    cluster = start_cluster(tmp_path, extra_args=("--election-timeout", "0.35-0.7",
                                                  "--snapshot-entries", "100000"))
    try:
        with Drill(cluster, batch_size=1000, concurrency=4) as drill:
            drill.wait_acked(600)
            outcome = drill.finish()
        assert outcome["report"].ok
        leader = cluster.leader_index()
        assert leader is not None
        term = cluster.status(leader)["term"]  # type: ignore[index]
        for round_ in range(4):
            follower = (leader + 1 + round_ % 2) % 3
            cluster.kill_node(follower)
            cluster.start_node(follower)
            cluster.wait_ready(timeout_s=60)
            cluster.wait_converged()
            statuses = [cluster.status(i) for i in range(3)]
            assert [s["term"] for s in statuses if s] == [term] * 3, (round_, statuses)
            assert cluster.leader_index() == leader
    finally:
        cluster.stop()
