"""POST to any node, read back from every node (real 3-node cluster)."""

from __future__ import annotations

import subprocess
import sys

from lithair_node.lab.local_cluster import LocalCluster
from tests.http_helpers import get, post_json, post_msgpack, stats


def readings(sensor: str, start: int, count: int) -> list[dict[str, object]]:
    return [{"sensor_id": sensor, "timestamp": start + i, "location": "lab",
             "temperature": 20.0 + i, "values": {"humidity": 40.0}} for i in range(count)]


def totals(cluster: LocalCluster) -> list[tuple[int, str]]:
    cluster.wait_converged()
    return [(s["total_readings"], s["state_digest"]) for s in map(stats, cluster.urls)]


def test_write_to_each_node_read_equal_totals_everywhere(cluster: LocalCluster) -> None:
    before = stats(cluster.urls[0])["total_readings"]
    for index, url in enumerate(cluster.urls):
        answer = post_json(url, {"readings": readings(f"each-{index}", 1_700_000_000, 50)})
        assert answer.status == 200, answer
        assert answer.body["accepted"] == 50 and answer.body["duplicates"] == 0
        assert answer.body["duplicate_batch"] is False
        assert answer.body["raft_index"] > 1 and answer.body["raft_term"] >= 1
        # Acked only once applied on the node that answered: it must already show it.
        latest = get(f"{url}/api/v1/sensors/each-{index}/latest")
        assert latest.status == 200
        assert latest.body["timestamp"] == "2023-11-14T22:14:09.000000Z"
        assert latest.body["values"] == {"temperature": 69.0, "humidity": 40.0}
    result = totals(cluster)
    assert len(set(result)) == 1
    assert result[0][0] == before + 150


def test_msgpack_body_and_duplicates_counted(cluster: LocalCluster) -> None:
    url = cluster.urls[1]
    first = post_msgpack(url, {"readings": readings("mp", 1_600_000_000, 10)})
    assert first.status == 200 and first.body["accepted"] == 10
    again = post_msgpack(url, {"readings": readings("mp", 1_600_000_005, 10)})
    assert again.status == 200
    assert (again.body["accepted"], again.body["duplicates"]) == (5, 5)


def test_idempotent_retry_on_another_node(cluster: LocalCluster) -> None:
    body = {"readings": readings("idem", 1_500_000_000, 20)}
    first = post_json(cluster.urls[0], body, key="idem-batch-1")
    assert first.status == 200 and first.body["duplicate_batch"] is False
    before = totals(cluster)
    for url in cluster.urls[1:]:
        retry = post_json(url, body, key="idem-batch-1")
        assert retry.status == 200
        assert retry.body["duplicate_batch"] is True
        assert {k: retry.body[k] for k in ("accepted", "duplicates", "raft_index", "raft_term")} \
            == {k: first.body[k] for k in ("accepted", "duplicates", "raft_index", "raft_term")}
    assert totals(cluster) == before
    other = post_json(cluster.urls[2], {"readings": readings("idem", 1, 1)}, key="idem-batch-1")
    assert other.status == 422
    assert other.error["code"] == "idempotency_key_reused"
    assert other.error["field"] == "Idempotency-Key"
    assert totals(cluster) == before


def test_unknown_sensor_is_404_with_error_shape(cluster: LocalCluster) -> None:
    answer = get(f"{cluster.urls[0]}/api/v1/sensors/never-seen/latest")
    assert answer.status == 404
    assert set(answer.error) == {"code", "message", "reading", "field"}
    assert answer.error["code"] == "not_found"


def test_cluster_status_and_readiness(cluster: LocalCluster) -> None:
    views = [get(f"{url}/api/v1/cluster/status").body for url in cluster.urls]
    assert sorted(v["role"] for v in views) == ["follower", "follower", "leader"]
    leader_ids = {v["leader"]["node_id"] for v in views}
    assert len(leader_ids) == 1
    assert {p["node_id"] for p in views[0]["peers"]} == {"node2", "node3"}
    assert all(p["connected"] for p in views[0]["peers"])
    for url in cluster.urls:
        ready = get(f"{url}/readyz")
        assert ready.status == 200 and ready.body["ready"] is True
        assert {c["name"] for c in ready.body["checks"]} == {"raft", "leader", "applied"}
        assert get(f"{url}/health").body["status"] == "ok"


def test_inject_intel_lab_through_a_follower(tmp_path, intel_lab_path) -> None:
    from tests.cluster_fixtures import start_cluster

    local = start_cluster(tmp_path)
    try:
        leader = local.leader_index()
        follower = next(i for i in range(3) if i != leader)
        done = subprocess.run(
            [sys.executable, "-m", "lithair_node", "inject", "--node", local.urls[follower],
             "--file", str(intel_lab_path), "--format", "intel-lab", "--json"],
            capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert '"acked": 9719' in done.stdout
        converged = local.wait_converged()
        assert {s["total_readings"] for s in converged} == {9719}
        assert {s["active_sensors"] for s in converged} == {3}
        assert len({s["state_digest"] for s in converged}) == 1
    finally:
        local.stop()
