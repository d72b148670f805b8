"""Entries in flight are sent once: an acknowledgement must not rewind a follower's next index
(node/raft/syncobj.py, ReplicatedLog._SyncObj__onMessageReceived)."""

from __future__ import annotations

from pathlib import Path

from lithair_node.lab.drills import Drill
from lithair_node.polling import wait_until
from tests.cluster_fixtures import start_cluster


def test_pipelined_entries_are_not_resent_and_never_truncated(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path)
    try:
        leader = cluster.leader_index()
        assert leader is not None
        with Drill(cluster, batch_size=200, concurrency=8) as drill:
            # Under concurrent load acknowledgements arrive while later entries are in
            # flight; each one used to send those entries again.
            wait_until(lambda: (cluster.status(leader) or {}).get("resends_avoided", 0), 90,
                       period_s=0.1, what="an acknowledgement overtaking a later send")
            drill.wait_acked(50)
        stats = cluster.wait_converged()
        assert len({s["state_digest"] for s in stats}) == 1
        again = [(cluster.status(i) or {}).get("entries_received_again") for i in range(3)]
        assert again == [0, 0, 0], again  # no follower was sent an entry it already held
        for index in range(3):
            log = cluster.log_tail(index, lines=100_000)
            # What a follower logs when it receives entries it already holds.
            assert "truncating already-applied" not in log, log[-3000:]
    finally:
        cluster.stop()
