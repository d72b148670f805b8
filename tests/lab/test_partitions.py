"""Partitions outside the chaos run (README, Reading: consistency; DESIGN, "What survives
what"): each node in a network namespace of its own, cut off by blackhole routes.

- A leader cut off from its peers answers a linearizable read with 503 or a correct value,
  never the value it held before the majority side moved on.
- A follower cut off from the others serves stale `local` reads, never older than it served
  before, and catches up once the cut heals.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from lithair_node.client.blocking_api import http_json
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.lab.netlab import NetworkLab
from lithair_node.polling import wait_until
from tests.http_helpers import get, post_json

# A barrier that cannot commit answers 503 after this; short, so the test stays short.
COMMIT_TIMEOUT_S = 2.0
# A cut-off leader believes it leads this long: long enough that the reads below reach it
# while it does (the dangerous case: a leader that answers from its own state).
LEADER_FALLBACK_S = 15.0


@pytest.fixture(scope="module")
def lab_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NetworkLab, LocalCluster]]:
    if not NetworkLab.available():
        pytest.fail("these tests partition nodes with network namespaces: run them as root "
                    "with iproute2 (`ip netns add` failed here)")
    NetworkLab.remove_leftovers()
    with NetworkLab(3) as lab:
        cluster = LocalCluster(tmp_path_factory.mktemp("partitions"), hosts=lab.hosts,
                               command_prefixes=lab.command_prefixes,
                               extra_args=("--commit-timeout", str(COMMIT_TIMEOUT_S),
                                           "--leader-fallback-timeout", str(LEADER_FALLBACK_S)))
        cluster.start()
        try:
            cluster.wait_ready(timeout_s=60)
            yield lab, cluster
        finally:
            cluster.stop()


def write(url: str, sensor: str, timestamp: int, value: float) -> None:
    body = {"readings": [{"sensor_id": sensor, "timestamp": timestamp, "t": value}]}
    answer = post_json(url, body, key=f"{sensor}-{timestamp}")
    assert answer.status == 200, answer


def latest(url: str, sensor: str, consistency: str) -> tuple[int, Any]:
    answer = get(f"{url}/api/v1/sensors/{sensor}/latest?consistency={consistency}",
                 timeout_s=COMMIT_TIMEOUT_S + 10)
    return answer.status, answer.body


def new_leader(cluster: LocalCluster, among: list[int], term_above: int) -> list[int]:
    """[index] of the node among `among` that leads in a term above `term_above`, or []."""
    for index in among:
        status = cluster.status(index)
        if status and status["role"] == "leader" and status["term"] > term_above:
            return [index]
    return []


def heal_and_settle(lab: NetworkLab, cluster: LocalCluster) -> None:
    lab.heal()
    cluster.wait_ready(timeout_s=60)
    cluster.wait_converged(timeout_s=60)


def test_a_cut_off_leader_never_answers_a_linearizable_read_with_a_stale_value(
        lab_cluster: tuple[NetworkLab, LocalCluster]) -> None:
    lab, cluster = lab_cluster
    old = cluster.leader_index()
    assert old is not None
    old_url = cluster.urls[old]
    write(old_url, "lin", 1, 1.0)
    cluster.wait_converged()
    term = cluster.status(old)["term"]
    others = [i for i in range(3) if i != old]

    lab.isolate(old)
    try:
        # (A list: node index 0 would read as "not yet".)
        (leader,) = wait_until(lambda: new_leader(cluster, others, term), 30,
                               what="the majority side to elect a leader")
        write(cluster.urls[leader], "lin", 2, 2.0)
        # The old leader still believes it leads (it steps down after
        # --leader-fallback-timeout): the read must not be answered from its applied state.
        assert cluster.status(old)["role"] == "leader"
        answers = [latest(old_url, "lin", "linearizable") for _ in range(3)]
        still_leads = cluster.status(old)["role"] == "leader"
        # Its own state is stale: a `local` read shows the old value, so an answer from it
        # would be caught here.
        code, body = latest(old_url, "lin", "local")
        assert code == 200 and body["timestamp_us"] == 1_000_000, body
    finally:
        heal_and_settle(lab, cluster)
    assert still_leads, "the old leader stepped down before the reads were answered"
    for code, body in answers:
        assert code == 503 or (code == 200 and body["timestamp_us"] == 2_000_000), (
            f"a linearizable read at the cut-off leader answered {code} {body}")
    assert any(code == 503 for code, _ in answers)
    # Healed, the old leader answers with the majority's value.
    code, body = latest(old_url, "lin", "linearizable")
    assert code == 200 and body["timestamp_us"] == 2_000_000, body


def test_a_cut_off_follower_serves_stale_reads_never_older_ones_then_catches_up(
        lab_cluster: tuple[NetworkLab, LocalCluster]) -> None:
    lab, cluster = lab_cluster
    leader = cluster.leader_index()
    assert leader is not None
    cut = next(i for i in range(3) if i != leader)
    cut_url = cluster.urls[cut]
    for t in range(1, 6):
        write(cluster.urls[leader], "part", t, float(t))
    before = cluster.wait_converged()[0]

    reads: list[tuple[int, int]] = []  # (applied_index, total_readings) served by the cut node
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            code, body = http_json(f"{cut_url}/api/v1/stats", timeout_s=2)
            if code == 200:
                reads.append((body["applied_index"], body["total_readings"]))
            done.wait(0.05)  # a steady read rate, not a wait for a condition

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        lab.isolate(cut)
        majority = [i for i in range(3) if i != cut]
        during: dict[str, Any] = {}
        try:
            for t in range(6, 11):
                def written(t: int = t) -> bool:
                    index = cluster.leader_index()
                    if index is None or index == cut:
                        return False
                    body = {"readings": [{"sensor_id": "part", "timestamp": t, "t": float(t)}]}
                    return post_json(cluster.urls[index], body, key=f"part-{t}",
                                     timeout_s=COMMIT_TIMEOUT_S + 5).status == 200
                wait_until(written, 30, what=f"reading {t} acked by the majority side")
            majority_total = before["total_readings"] + 5
            wait_until(lambda: (cluster.stats(majority[0]) or {}).get("total_readings")
                       == majority_total, 30, what="the majority side to hold the 5 new readings")
            count = len(reads)
            wait_until(lambda: len(reads) >= count + 10, 30, what="10 reads of the cut node")
            code, during = http_json(f"{cut_url}/api/v1/sensors/part/latest")
            assert code == 200, during
            # A linearizable read there cannot be served from that stale state.
            lin_code, lin_body = latest(cut_url, "part", "linearizable")
        finally:
            lab.heal()
        # Stale: the cut node still serves what it had, not the majority's writes.
        assert during["timestamp_us"] == 5_000_000, during
        assert lin_code == 503 or (lin_code == 200 and lin_body["timestamp_us"] == 10_000_000), (
            lin_code, lin_body)

        def caught_up() -> bool:
            code, body = http_json(f"{cut_url}/api/v1/sensors/part/latest")
            return code == 200 and body["timestamp_us"] == 10_000_000
        wait_until(caught_up, 60, what="the healed node to serve the majority's writes")
        cluster.wait_ready(timeout_s=60)
        cluster.wait_converged(timeout_s=60)
    finally:
        done.set()
        poller.join(timeout=5)
    assert reads, "the cut node answered no read"
    floor = (before["applied_index"], before["total_readings"])
    older = [r for r in reads if r[0] < floor[0] or r[1] < floor[1]]
    assert not older, f"served {older[:3]} after {floor}"
    backwards = [(a, b) for a, b in itertools.pairwise(reads) if b[0] < a[0] or b[1] < a[1]]
    assert not backwards, f"reads went backwards: {backwards[:3]}"
    # The poller's last answer may predate the catch-up (a read in flight when it stopped, on
    # a loaded box): the healed node's own answer now holds everything, and is no older.
    code, final = http_json(f"{cut_url}/api/v1/stats", timeout_s=10)
    assert code == 200, final
    assert final["total_readings"] == majority_total
    assert final["applied_index"] >= reads[-1][0] and final["total_readings"] >= reads[-1][1]


def test_a_cut_off_follower_rejoins_without_changing_the_leader_or_the_term(
        lab_cluster: tuple[NetworkLab, LocalCluster]) -> None:
    """PreVote: the cut node's election timer fires again and again, but no peer answers its
    pre-votes, so it never raises its term; healed, it follows the leader it had. Without
    PreVote it came back in a higher term and deposed the leader."""
    lab, cluster = lab_cluster
    leader = wait_until(lambda: [i] if (i := cluster.leader_index()) is not None else [], 30,
                        what="a leader")[0]
    term = cluster.status(leader)["term"]
    leader_id = cluster.status(leader)["node_id"]
    cut = next(i for i in range(3) if i != leader)
    node_log = cluster.specs[cut].data_dir / "node.log"
    offset = node_log.stat().st_size

    def pre_votes_asked() -> int:
        with node_log.open("rb") as handle:
            handle.seek(offset)
            return handle.read().count(b"asking a pre-vote")

    lab.isolate(cut)
    try:
        wait_until(lambda: pre_votes_asked() >= 2, 30, what="the cut node to ask pre-votes twice")
        write(cluster.urls[leader], "rejoin", 1, 1.0)  # the majority side goes on
        during = cluster.status(cut)
    finally:
        lab.heal()
    assert during["term"] == term, during
    cluster.wait_ready(timeout_s=60)
    cluster.wait_converged(timeout_s=60)
    for index in range(3):
        status = cluster.status(index)
        assert status["term"] == term, (index, status)
        assert (status["leader"] or {}).get("node_id") == leader_id, (index, status)
    code, body = latest(cluster.urls[cut], "rejoin", "local")
    assert code == 200 and body["timestamp_us"] == 1_000_000, body
