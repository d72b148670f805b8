"""The MQTT bridge against a real Mosquitto and a real 3-node cluster: every message
stored exactly once through bridge and leader kill -9s, the broker's backlog drained after
a restart, bad payloads dead-lettered without blocking good ones, an anomaly alerted once,
a batch that cannot commit redelivered after a reconnect, a wrong token dead-lettering nothing,
line-protocol payloads written through /api/v2/write."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lithair_node import api
from lithair_node.client.blocking_api import http_json
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.polling import wait_until
from tests.client.mqtt_lab import Bridge, Broker, Collector, publish_all
from tests.cluster_fixtures import start_cluster

BASE_TS = 1_790_000_000  # epoch seconds of the first reading


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path).start()
    yield running
    running.stop()


def _reading_messages(first: int, count: int, sensors: int) -> list[tuple[str, bytes]]:
    """One reading per message, distinct (sensor, timestamp); the sensor from the topic."""
    return [(f"sensors/crash-{i % sensors}/readings",
             json.dumps({"timestamp": BASE_TS + i, "temperature": 20 + (i % 7) * 0.1}).encode())
            for i in range(first, first + count)]


def _stored(nodes: LocalCluster, index: int) -> int:
    stats = nodes.stats(index)
    return stats["total_readings"] if stats else -1


def _per_sensor(url: str) -> dict[str, int]:
    code, body = http_json(f"{url}{api.SENSORS}?limit=1000")
    assert code == 200, body
    return {s["sensor_id"]: s["readings"] for s in body["sensors"]}


def _holding_unacked(bridge: Bridge) -> dict[str, int] | None:
    status = bridge.status()
    return status if status.get("received", 0) > status.get("acks", 0) else None


def _run_through_crashes(nodes: LocalCluster, broker: Broker, tmp_path: Path,
                         total: int) -> None:
    sensors = 50
    bridge = Bridge(tmp_path, broker, nodes.urls, "--alerts-topic", "")
    chunk = total // 4
    leader = nodes.leader_index()
    assert leader is not None
    try:
        bridge.start()
        publish_all(broker, _reading_messages(0, chunk, sensors))
        wait_until(lambda: _stored(nodes, leader) >= chunk // 4, 60, what="first readings")
        first_kill = bridge.status()
        bridge.kill9()  # mid-stream: stored but unacked messages come back, dup=True
        publish_all(broker, _reading_messages(chunk, chunk, sensors))  # a backlog
        bridge.start()
        wait_until(lambda: _stored(nodes, leader) == 2 * chunk, 120, what="backlog drained")

        # The leader and a follower die before the next chunk: with no quorum left no node
        # can commit, so the bridge holds received, unacked messages (with the leader
        # alone killed, a new leader could commit them before a poll saw them held), and is
        # kill -9'd with them in hand.
        follower = next(i for i in range(3) if i != leader)
        nodes.kill_node(leader)
        nodes.kill_node(follower)
        publish_all(broker, _reading_messages(2 * chunk, chunk, sensors))
        second_kill = wait_until(lambda: _holding_unacked(bridge), 30,
                                 what="messages received, not yet acked")
        bridge.kill9()
        nodes.start_node(leader)
        nodes.start_node(follower)
        bridge.start()
        publish_all(broker, _reading_messages(3 * chunk, total - 3 * chunk, sensors))
        nodes.wait_ready(timeout_s=60)
        wait_until(lambda: all(_stored(nodes, i) == total for i in range(3)), 180,
                   what=f"{total} readings on every node")
        counters = bridge.stop()
    finally:
        bridge.ensure_stopped()
    stats = nodes.wait_converged(timeout_s=30)
    assert {s["total_readings"] for s in stats} == {total}
    assert len({s["state_digest"] for s in stats}) == 1
    expected = {f"crash-{s}": len(range(s, total, sensors)) for s in range(sensors)}
    for url in nodes.urls:
        assert _per_sensor(url) == expected
    print(f"bridge before its kills: {first_kill}, {second_kill}; last run: {counters}")
    assert second_kill["received"] > second_kill["acks"]  # it died holding unacked messages
    assert counters["dead_lettered"] == 0
    assert counters["acks"] > 0


def test_fifty_thousand_messages_stored_once_through_bridge_and_leader_kills(
        fresh_cluster: LocalCluster, broker: Broker, tmp_path: Path) -> None:
    _run_through_crashes(fresh_cluster, broker, tmp_path, total=50_000)


def test_a_batch_that_cannot_commit_comes_back_after_a_reconnect(
        fresh_cluster: LocalCluster, broker: Broker, tmp_path: Path) -> None:
    """No quorum: the batch fails for good, nothing is acked, and Mosquitto redelivers the
    messages only because the bridge opens a new connection."""
    bridge = Bridge(tmp_path, broker, fresh_cluster.urls, "--alerts-topic", "",
                    "--deadline", "1")
    try:
        bridge.start()
        fresh_cluster.kill_node(1)
        fresh_cluster.kill_node(2)
        publish_all(broker, _reading_messages(0, 100, sensors=5))
        wait_until(lambda: bridge.status().get("reconnects", 0) >= 1, 30, what="a reconnect")
        fresh_cluster.start_node(1)
        fresh_cluster.start_node(2)
        fresh_cluster.wait_ready(timeout_s=60)
        wait_until(lambda: all(_stored(fresh_cluster, i) == 100 for i in range(3)), 60,
                   what="the redelivered readings stored")
        # The entries of the failed attempt may commit once quorum is back, before the
        # redelivered batch is: wait for the bridge's acks, not only for the readings.
        wait_until(lambda: bridge.status().get("acks", 0) >= 100, 60, what="every message acked")
        counters = bridge.stop()
    finally:
        bridge.ensure_stopped()
    assert counters["commit_failures"] >= 1 and counters["acks"] >= 100
    assert counters["received"] >= 200  # each message came twice at least


def test_a_wrong_token_dead_letters_nothing(broker: Broker, tmp_path: Path) -> None:
    """A 401 is the bridge's fault, not the messages': they stay unacked until a bridge
    with the right token stores them."""
    node = start_cluster(tmp_path / "guarded", nodes=1, extra_args=("--token", "w-secret"))
    bridge = Bridge(tmp_path, broker, node.urls, "--alerts-topic", "", "--token", "wrong")
    try:
        bridge.start()
        publish_all(broker, _reading_messages(0, 20, sensors=2))
        wait_until(lambda: bridge.status().get("commit_failures", 0) >= 1, 30,
                   what="a refused batch")
        refused = bridge.stop()
        bridge.command[bridge.command.index("wrong")] = "w-secret"
        bridge.start()
        wait_until(lambda: _stored(node, 0) == 20, 30, what="the readings stored")
        stored = bridge.stop()
    finally:
        bridge.ensure_stopped()
        node.stop()
    assert refused["dead_lettered"] == 0 and refused["acks"] == 0
    assert stored["dead_lettered"] == 0 and stored["acks"] >= 20


def test_bad_payloads_dead_lettered_and_an_anomaly_alerted_once(
        cluster: LocalCluster, broker: Broker, tmp_path: Path) -> None:
    collector = Collector(broker, "lithair/dead-letter", "lithair/alerts/#")
    bridge = Bridge(tmp_path, broker, cluster.urls)
    good = [("sensors/dl-good/readings",
             json.dumps({"timestamp": BASE_TS + i, "temperature": 20 + (i % 5) * 0.1}).encode())
            for i in range(40)]
    bad = [("sensors/dl-good/readings", b"{temperature=21 not json"),
           ("sensors/dl-good/readings", b"[]"),
           ("sensors/dl-good/readings", b'"a string"'),
           ("sensors/dl-bad/readings", json.dumps(  # the node refuses it: 422
               {"sensor_id": "dl-bad", "timestamp": "yesterday", "temperature": 1}).encode())]
    spike = ("sensors/dl-good/readings",
             json.dumps({"timestamp": BASE_TS + 100, "temperature": 1000.0}).encode())
    try:
        bridge.start()
        publish_all(broker, good[:10] + bad[:2] + good[10:30] + bad[2:] + good[30:] + [spike])
        wait_until(lambda: len(collector.on("lithair/dead-letter")) >= 4, 30,
                   what="4 dead letters")
        code, latest = http_json(f"{cluster.urls[0]}{api.sensor_path(api.SENSOR_LATEST, 'dl-good')}"
                                 "?consistency=linearizable")
        assert code == 200 and latest["values"]["temperature"] == 1000.0
        wait_until(lambda: collector.on("lithair/alerts/dl-good"), 30, what="the alert")
        first_run = bridge.stop()
        bridge.start()  # a restart must not publish the same alert again
        wait_until(lambda: bridge.status().get("alert_polls", 0) >= 2, 20, what="alert polls")
        second_run = bridge.stop()
    finally:
        bridge.ensure_stopped()
        collector.close()
    letters = collector.on("lithair/dead-letter")
    assert len(letters) == 4
    assert {letter["payload"] for letter in letters} == {p.decode() for _, p in bad}
    assert sum("not JSON" in letter["reason"] for letter in letters) == 1
    assert sum("refused by the node" in letter["reason"] for letter in letters) == 1
    assert first_run["dead_lettered"] == 4 and first_run["acks"] == len(good) + len(bad) + 1
    alerts = collector.on("lithair/alerts/dl-good")
    assert len(alerts) == 1 and alerts[0]["metrics"]["temperature"]["value"] == 1000.0
    assert first_run["alerts_published"] == 1 and second_run["alerts_published"] == 0
    assert _per_sensor(cluster.urls[0]).get("dl-good") == 41


def test_line_protocol_messages_stored_and_a_bad_line_dead_lettered(
        cluster: LocalCluster, broker: Broker, tmp_path: Path) -> None:
    """Payloads that are not JSON go to the node's /api/v2/write; the line it refuses (a
    string field) is dead-lettered with its message, the others are stored."""
    collector = Collector(broker, "lithair/dead-letter")
    bridge = Bridge(tmp_path, broker, cluster.urls, "--alerts-topic", "")
    good = [("sensors/lp/readings",
             f"weather,sensor_id=lp-s1,location=roof temperature={21.5 + i} "
             f"{1_700_000_000_000_000_000 + i * 10**9}".encode()) for i in range(20)]
    two_lines = ("sensors/lp/readings", b"weather,sensor_id=lp-s2 temperature=19.0,door=true "
                 b"1700000000000000000\nweather,sensor_id=lp-s2 humidity=40i 1700000001000000000\n")
    bad = ("sensors/lp/readings", b'weather,sensor_id=lp-s1 note="open" 1700000100000000000')
    try:
        bridge.start()
        publish_all(broker, [*good[:10], bad, *good[10:], two_lines])
        wait_until(lambda: bridge.status().get("acks", 0) >= len(good) + 2, 30,
                   what="every message acked")
        wait_until(lambda: collector.on("lithair/dead-letter"), 10, what="the dead letter")
        counters = bridge.stop()
    finally:
        bridge.ensure_stopped()
        collector.close()
    code, latest = http_json(f"{cluster.urls[1]}{api.sensor_path(api.SENSOR_LATEST, 'lp-s1')}"
                             "?consistency=linearizable")
    assert code == 200, latest
    assert latest["location"] == "roof" and latest["values"] == {"temperature": 40.5}
    assert latest["timestamp_us"] == 1_700_000_019_000_000
    sensors = _per_sensor(cluster.urls[2])
    assert sensors["lp-s1"] == 20 and sensors["lp-s2"] == 2
    letters = collector.on("lithair/dead-letter")
    assert len(letters) == 1 and letters[0]["payload"] == bad[1].decode()
    assert letters[0]["reason"].startswith("refused by the node: 400") and "line 1" in letters[0]["reason"]
    assert counters["dead_lettered"] == 1 and counters["readings_sent"] == len(good) + 2
