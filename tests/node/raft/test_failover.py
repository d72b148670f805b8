"""Leader failures under load: nothing acked is lost, nothing is applied twice, and no write
waits longer than the configured timeout. Real processes, real signals."""

from __future__ import annotations

import contextlib
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lithair_node.client.cluster_client import ACKED, FAILED, UNKNOWN, Attempt, SendResult
from lithair_node.lab.drills import Drill
from lithair_node.lab.history import BatchRecord, check_history, checkable_batches, probe_of
from lithair_node.lab.leader_watch import LeaderWatch
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.polling import wait_until
from tests.cluster_fixtures import start_cluster
from tests.http_helpers import Answer, post_json

COMMIT_TIMEOUT_S = 2.0
FALLBACK_S = 3.0
SLACK_S = 1.0  # scheduling noise on a busy 2-core box


def test_leader_kill_under_load_loses_nothing_and_applies_nothing_twice(
        fresh_cluster: LocalCluster) -> None:
    cluster = fresh_cluster
    with Drill(cluster, batch_size=50, concurrency=4) as drill:
        drill.wait_acked(100)
        for _ in range(2):
            killed = drill.kill_leader(timeout_s=30)  # restarts it once a new leader acks
            assert killed.new_leader != killed.killed
            assert killed.new_term is not None and killed.new_term > killed.old_term
            assert killed.to_first_ack_s is not None
            drill.wait_acked(50)
        outcome = drill.finish()
    report = outcome["report"]
    assert report.ok, report.table()
    summary = outcome["summary"]
    assert summary["acked"] >= 200
    # Every batch ended one way or another, and the three nodes agree on all of it.
    assert summary["acked"] + summary["failed"] + summary["unknown"] == summary["batches"]
    assert len({node.stats["state_digest"] for node in report.nodes}) == 1
    assert {node.present for node in report.nodes} == {report.nodes[0].present}


def test_retry_of_a_batch_committed_before_the_leader_died_is_a_duplicate(
        fresh_cluster: LocalCluster) -> None:
    cluster = fresh_cluster
    leader = cluster.leader_index()
    assert leader is not None
    batch = next(checkable_batches(f"retry-{uuid.uuid4().hex[:6]}", 20))
    key = f"retry-{uuid.uuid4().hex}"
    first = post_json(cluster.urls[leader], {"readings": batch}, key=key)
    assert first.status == 200 and first.body["duplicate_batch"] is False
    cluster.wait_converged()
    cluster.kill_node(leader)
    survivor = cluster.urls[(leader + 1) % 3]

    # The same key, to another node, while (and after) a new leader is elected.
    def retried() -> Answer | None:
        again = post_json(survivor, {"readings": batch}, key=key, timeout_s=15)
        if again.status == 200:
            return again
        assert again.status == 503, again
        return None

    again = wait_until(retried, 30, what="the retry answered 200")
    assert again.status == 200, again
    assert again.body["duplicate_batch"] is True
    assert (again.body["raft_index"], again.body["accepted"]) == (first.body["raft_index"], 20)
    assert again.body["raft_term"] == first.body["raft_term"]
    cluster.start_node(leader)
    cluster.wait_ready()
    for stats in cluster.wait_converged():
        assert (stats["total_readings"], stats["batches_accepted"], stats["duplicate_readings"]) == (
            20, 1, 0)


@pytest.fixture
def tight_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster with a short commit timeout, so that bounded-wait tests stay short."""
    running = start_cluster(tmp_path, extra_args=(
        "--commit-timeout", str(COMMIT_TIMEOUT_S), "--leader-fallback-timeout", str(FALLBACK_S)))
    yield running
    for index in range(running.nodes):  # never leave a stopped process behind
        if running.is_running(index):
            running.signal_node(index, signal.SIGCONT)
    running.stop()


def _timed_post(url: str, batch: list[dict], key: str) -> tuple[float, BatchRecord]:
    started = time.monotonic()
    answer = post_json(url, {"readings": batch}, key=key,
                       timeout_s=COMMIT_TIMEOUT_S + 10)  # far longer than the node may take
    elapsed = time.monotonic() - started
    code = "" if answer.status == 200 else answer.error["code"]
    status = ACKED if answer.status == 200 else FAILED if code == "no_leader" else UNKNOWN
    attempt = Attempt(url, started, elapsed, answer.status, code, status == UNKNOWN)
    result = SendResult(status, key, len(batch), 1, elapsed, started, started + elapsed,
                        answer.body if answer.status == 200 else None, url, trail=[attempt])
    return elapsed, BatchRecord(probe_of(batch), result)


def test_stopped_leader_never_leaves_a_write_hanging(tight_cluster: LocalCluster) -> None:
    """SIGSTOP the leader: every write to the other nodes answers within the commit
    timeout (503 while there is no new leader, then 200); SIGCONT: it rejoins as follower."""
    cluster = tight_cluster
    leader = cluster.leader_index()
    assert leader is not None
    others = [i for i in range(3) if i != leader]
    batches = checkable_batches(f"stop-{uuid.uuid4().hex[:6]}", 10)
    records: list[BatchRecord] = []
    cluster.signal_node(leader, signal.SIGSTOP)
    try:
        acked_by = set()

        def acked_by_the_others() -> bool:
            for index in others:
                elapsed, record = _timed_post(cluster.urls[index], next(batches),
                                              f"stop-{uuid.uuid4().hex}")
                records.append(record)
                assert elapsed < COMMIT_TIMEOUT_S + SLACK_S, (elapsed, record.result.trail)
                assert record.result.trail[0].status in (200, 503), record.result.trail
                if record.status == ACKED:
                    acked_by.add(index)
            return acked_by == set(others)

        with contextlib.suppress(TimeoutError):  # the assertion below shows the last answers
            wait_until(acked_by_the_others, 30, period_s=0)
        assert acked_by == set(others), [r.result.trail for r in records[-6:]]
        assert any(r.status != ACKED for r in records), "the stopped leader was not missed"
    finally:
        cluster.signal_node(leader, signal.SIGCONT)
    cluster.wait_ready()
    status = cluster.status(leader)
    assert status is not None and status["role"] == "follower"
    cluster.wait_converged()
    report = check_history(cluster.urls, records)
    assert report.ok, report.table()


def test_isolated_leader_steps_down_and_answers_within_the_timeout(
        tight_cluster: LocalCluster) -> None:
    """SIGSTOP both followers: the leader cannot commit. Writes to it answer 503 within the
    commit timeout, it steps down after the leader fallback timeout, and after SIGCONT the
    cluster elects a leader and accepts writes again."""
    cluster = tight_cluster
    leader = cluster.leader_index()
    assert leader is not None
    followers = [i for i in range(3) if i != leader]
    url = cluster.urls[leader]
    batches = checkable_batches(f"iso-{uuid.uuid4().hex[:6]}", 10)
    records: list[BatchRecord] = []
    with LeaderWatch([url]) as watch:
        for index in followers:
            cluster.signal_node(index, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            stepped_down = None
            while time.monotonic() - stopped_at < FALLBACK_S + 10:
                elapsed, record = _timed_post(url, next(batches), f"iso-{uuid.uuid4().hex}")
                records.append(record)
                # 503 while it waits for a majority (not 429: the client is not the problem),
                # never a 200.
                assert record.result.trail[0].status == 503, record.result.trail
                assert elapsed < COMMIT_TIMEOUT_S + SLACK_S, elapsed
                stepped_down = watch.first_event(lambda e: e.role != "leader", stopped_at)
                if stepped_down is not None and record.result.trail[0].code == "no_leader":
                    break
            assert stepped_down is not None, "the isolated leader never stepped down"
            assert stepped_down.at - stopped_at < FALLBACK_S + SLACK_S + 0.5
            # Once it knows it leads nobody, it refuses at once rather than after the timeout.
            assert record.result.trail[0].code == "no_leader" and elapsed < SLACK_S
        finally:
            for index in followers:
                cluster.signal_node(index, signal.SIGCONT)
    cluster.wait_ready(timeout_s=30)
    _, record = _timed_post(url, next(batches), f"iso-{uuid.uuid4().hex}")
    assert record.status == ACKED, record.result.trail
    records.append(record)
    cluster.wait_converged()
    report = check_history(cluster.urls, records)  # and nothing refused was stored
    assert report.ok, report.table()
