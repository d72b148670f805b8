"""Damage in a real node's journal files: a torn tail (what a crash leaves) is cut off and the
node rejoins with the same state; a bit flip in the middle makes the node refuse to start,
exiting with a message naming the file and the offset."""

from __future__ import annotations

import uuid
from pathlib import Path

from lithair_node.lab.history import checkable_batches
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.polling import wait_until
from tests.http_helpers import post_json

DAMAGED = 2


def _write_and_stop_one(cluster: LocalCluster, batches: int = 12) -> Path:
    run = f"dmg-{uuid.uuid4().hex[:6]}"
    for number, batch in zip(range(batches), checkable_batches(run, 20), strict=False):
        assert post_json(cluster.urls[number % 3], {"readings": batch},
                         key=f"{run}-{number}").status == 200
    cluster.wait_converged()
    assert cluster.stop_node(DAMAGED) == 0
    segments = sorted((cluster.specs[DAMAGED].data_dir / "journal").glob("*.seg"))
    assert segments
    return segments[-1]


def test_a_torn_tail_is_cut_off_and_the_node_rejoins(fresh_cluster: LocalCluster) -> None:
    cluster = fresh_cluster
    segment = _write_and_stop_one(cluster)
    segment.write_bytes(segment.read_bytes()[:-5])
    cluster.start_node(DAMAGED)
    cluster.wait_ready(timeout_s=60)
    stats = cluster.wait_converged(timeout_s=60)
    assert len({s["state_digest"] for s in stats}) == 1
    status = cluster.status(DAMAGED)
    assert status is not None and status["journal"]["repaired_at_open"]["kind"] == "torn_tail"


def test_a_bit_flip_in_the_middle_refuses_to_start_naming_file_and_offset(
        fresh_cluster: LocalCluster) -> None:
    cluster = fresh_cluster
    segment = _write_and_stop_one(cluster)
    data = bytearray(segment.read_bytes())
    data[len(data) // 3] ^= 0x04
    segment.write_bytes(bytes(data))
    process = cluster.start_node(DAMAGED)
    wait_until(lambda: process.poll() is not None, 30, what="the node to refuse to start")
    assert process.returncode != 0
    log = cluster.log_tail(DAMAGED, 20)
    assert f"journal file {segment} is corrupt at byte " in log, log
    assert "refusing to start" in log and "Traceback" not in log, log
    # The others carry on.
    cluster.wait_ready(timeout_s=30, indexes=[0, 1])
