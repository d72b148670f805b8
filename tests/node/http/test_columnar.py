"""Column-oriented request bodies, end to end (JSON and msgpack) through a follower."""

from __future__ import annotations

from lithair_node.lab.local_cluster import LocalCluster
from tests.http_helpers import get, post_json, post_msgpack


def test_columnar_bodies_are_stored_like_rows(cluster: LocalCluster) -> None:
    follower = next(i for i in range(3) if i != cluster.leader_index())
    url = cluster.urls[follower]
    body = {"columns": {
        "sensor_id": ["col-a", "col-a", "col-b", "col-a"],
        "timestamp": ["2026-01-01T00:00:00Z", 1767225601.5, 1767225600, 1767225601.5],
        "location": ["north", None, "south", None],
        "temperature": [20.5, 21.0, None, 99.0],  # the last repeats (col-a, ts): first wins
        "humidity": [None, 40, 55.5, None],
    }}
    answer = post_json(url, body, key="columnar-1")
    assert answer.status == 200, answer.body
    assert (answer.body["accepted"], answer.body["duplicates"]) == (3, 1)
    again = post_msgpack(url, body, key="columnar-1")  # same readings, other encoding
    assert again.status == 200 and again.body["duplicate_batch"] is True
    latest = get(f"{url}/api/v1/sensors/col-a/latest")  # applied here before the ack
    assert latest.status == 200, latest.body
    assert latest.body["values"] == {"temperature": 21.0, "humidity": 40.0}
    assert latest.body["location"] == "north"
    cluster.wait_converged()


def test_columnar_errors_use_the_error_shape(cluster: LocalCluster) -> None:
    body = {"columns": {"sensor_id": ["x", "x"], "timestamp": [1, 2], "temperature": [1.0, "hot"]}}
    answer = post_json(cluster.urls[0], body)
    assert answer.status == 422
    assert (answer.error["reading"], answer.error["field"]) == (1, "temperature")
