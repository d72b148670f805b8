"""GET /api/v1/stream against a real 3-node cluster: filters, resumption, the client bound,
a stalled client dropped while ingest goes on."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from lithair_node import api
from lithair_node.lab.bench.stream_stall import open_stalled
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.polling import wait_until
from tests.cluster_fixtures import start_cluster
from tests.http_helpers import get, post_json
from tests.node.http.sse_client import SseStream

MAX_STREAMS = 3


@pytest.fixture(scope="module")
def streams_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path_factory.mktemp("streams"),
                            extra_args=("--max-stream-clients", str(MAX_STREAMS)))
    yield running
    running.stop()


def reading(sensor: str, ts: int, location: str = "lab", **values: float) -> dict[str, object]:
    return {"sensor_id": sensor, "timestamp": ts, "location": location, **values}


def test_filters_by_sensor_location_and_metric(streams_cluster: LocalCluster) -> None:
    url = streams_cluster.urls[0] + api.STREAM
    with SseStream(f"{url}?sensor_id=flt-a&events=readings&max_rate=1000") as by_sensor, \
            SseStream(f"{url}?location=roof&metric=humidity&events=readings") as by_place:
        assert by_sensor.status == 200 and by_place.status == 200
        answer = post_json(streams_cluster.urls[1], {"readings": [
            reading("flt-a", 1_700_000_000, temperature=20.5),
            reading("flt-b", 1_700_000_000, temperature=30.0),
            reading("flt-c", 1_700_000_000, "roof", temperature=5.0, humidity=80.0),
            reading("flt-d", 1_700_000_000, "roof", temperature=6.0)]})
        assert answer.status == 200
        event = by_sensor.next_of("readings")
        assert event.id == answer.body["raft_index"]
        assert [(r["sensor_id"], r["values"]) for r in event.data["readings"]] == [
            ("flt-a", {"temperature": 20.5})]
        event = by_place.next_of("readings")
        assert [(r["sensor_id"], r["values"]) for r in event.data["readings"]] == [
            ("flt-c", {"humidity": 80.0})]


def test_resume_with_last_event_id_has_no_gap(streams_cluster: LocalCluster) -> None:
    url = f"{streams_cluster.urls[0]}{api.STREAM}?sensor_id=res-a&events=readings&max_rate=1000"
    with SseStream(url) as stream:
        first = post_json(streams_cluster.urls[0], {"readings": [reading("res-a", 1, temperature=1.0)]})
        last_seen = stream.next_of("readings").id
        assert last_seen == first.body["raft_index"]
    missed = [post_json(streams_cluster.urls[i % 3],
                        {"readings": [reading("res-a", 10 + i, temperature=2.0)]})
              for i in range(5)]
    # Resumed on another node: indexes are the log's, the same everywhere.
    other = url.replace(streams_cluster.urls[0], streams_cluster.urls[2])
    with SseStream(other, headers={api.LAST_EVENT_ID: str(last_seen)}) as resumed:
        got = []
        while len(got) < len(missed):
            event = resumed.next_event()
            assert event.event != "gap", event
            if event.event == "readings":
                got.append((event.id, event.data["readings"][0]["timestamp_us"]))
    assert got == [(m.body["raft_index"], (10 + i) * 1_000_000) for i, m in enumerate(missed)]


def test_resume_from_before_what_the_node_holds_says_gap(streams_cluster: LocalCluster) -> None:
    # Entries a node applied before it started (replayed from its journal) are held, but a
    # Last-Event-ID older than the ring is announced as a gap, never silently skipped.
    url = f"{streams_cluster.urls[1]}{api.STREAM}?events=readings"
    held = get(streams_cluster.urls[1] + api.STREAM_CLIENTS).body["oldest_held"]
    assert held is not None and held >= 1
    if held > 1:
        with SseStream(url, headers={api.LAST_EVENT_ID: "0"}) as stream:
            assert stream.next_event().event == "gap"
    with SseStream(url, headers={api.LAST_EVENT_ID: str(held - 1)}) as stream:
        post_json(streams_cluster.urls[1], {"readings": [reading("gap-none", 1, temperature=1.0)]})
        assert stream.next_event().event == "readings"


def test_past_the_client_bound_is_503_with_retry_after(streams_cluster: LocalCluster) -> None:
    url = streams_cluster.urls[2] + api.STREAM
    clients = streams_cluster.urls[2] + api.STREAM_CLIENTS
    wait_until(lambda: get(clients).body["clients"] == 0, 10)
    opened = [SseStream(url) for _ in range(MAX_STREAMS)]
    try:
        assert all(s.status == 200 for s in opened)
        refused = get(url)
        assert refused.status == 503
        assert refused.error["code"] == api.TOO_MANY_STREAMS
        assert int(refused.headers[api.RETRY_AFTER]) > 0
    finally:
        for stream in opened:
            stream.close()
    # Closed streams give their places back.
    wait_until(lambda: get(clients).body["clients"] == 0, 10)
    with SseStream(url) as again:
        assert again.status == 200


def test_a_stalled_client_is_dropped_and_ingest_goes_on(streams_cluster: LocalCluster) -> None:
    node = streams_cluster.urls[0]
    before = get(node + api.STREAM_CLIENTS).body["dropped_total"]
    sock = open_stalled(node)
    try:
        with SseStream(f"{node}{api.STREAM}?sensor_id=stall-0&events=readings") as reader:
            started = time.monotonic()
            for batch in range(300):
                answer = post_json(node, {"readings": [
                    reading(f"stall-{s}", 1_000 + batch, temperature=float(batch))
                    for s in range(500)]})
                assert answer.status == 200, answer
                if get(node + api.STREAM_CLIENTS).body["dropped_total"] > before:
                    break
            else:
                pytest.fail("the stalled client was never dropped")
            # Dropped within the run, writes answered throughout, and the reader that
            # does read still gets its events.
            assert time.monotonic() - started < 60
            assert reader.next_of("readings").data["readings"][0]["sensor_id"] == "stall-0"
        assert post_json(node, {"readings": [reading("stall-after", 1, temperature=1.0)]}).status == 200
    finally:
        sock.close()
