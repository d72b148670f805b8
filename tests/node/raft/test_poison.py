"""Commands that would break apply must not poison the cluster."""

from __future__ import annotations

import msgpack
import numpy as np

from lithair_node.lab.local_cluster import LocalCluster
from tests.http_helpers import post_json, stats, wait_for
from tests.node.raft.rogue_peer import SUCCESS, RoguePeer


def crafted_commands() -> list[object]:
    unsorted = [["s"], np.asarray([3], "<u4").tobytes(), [None],
                np.asarray([3, 1, 2], "<i8").tobytes(), ["t"],
                np.asarray([1.0, 2.0, 3.0], "<f8").tobytes(), 0]
    return [
        b"\x00not msgpack",
        msgpack.packb([1, "ingest", [[None, b"f" * 16, unsorted]]]),
        msgpack.packb([1, "ingest", [[None, b"f" * 16, ["s"]]]]),
        msgpack.packb([7, "ingest", []]),
        msgpack.packb([1, "format_disk", {}]),
        12345,  # not even bytes
        {"a": object.__name__},
    ]


def test_crafted_log_entries_are_applied_as_errors_and_the_cluster_moves_on(
    fresh_cluster: LocalCluster,
) -> None:
    cluster = fresh_cluster
    first = {"readings": [{"sensor_id": "p", "timestamp": t, "temperature": 1.0} for t in range(5)]}
    assert post_json(cluster.urls[0], first).status == 200
    before = cluster.wait_converged()[0]

    password = cluster.password_file.read_text().strip()
    rogue = RoguePeer([spec.raft_address for spec in cluster.specs], password)
    try:
        # The rogue's own view of the leader.
        wait_for(lambda: rogue._getLeader() is not None, what="the rogue peer to see a leader")
        for command in crafted_commands():
            assert rogue.propose_and_wait(command) == SUCCESS  # it did enter the log
        assert rogue.propose_and_wait(b"x", b"unexpected second argument") == SUCCESS
    finally:
        rogue.destroy()

    second = {"readings": [{"sensor_id": "p", "timestamp": t, "temperature": 2.0}
                           for t in range(5, 10)]}
    answer = post_json(cluster.urls[1], second)
    assert answer.status == 200 and answer.body["accepted"] == 5
    # Every crafted entry, the extra-argument one and the last write took a log index.
    expected = before["applied_index"] + len(crafted_commands()) + 2
    # applied_index is sampled: poll until it shows.
    after = wait_for(lambda: (now := cluster.wait_converged()) and
                     all(s["applied_index"] >= expected for s in now) and now,
                     what=f"every node to apply index {expected}")
    assert {s["total_readings"] for s in after} == {before["total_readings"] + 5}
    assert all(cluster.is_running(i) for i in range(3))
    assert stats(cluster.urls[2])["state_digest"] == after[0]["state_digest"]
