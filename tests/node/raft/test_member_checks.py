"""A membership change is checked before anything is proposed: the address, the newcomer's
Raft password, the majority after the change, one change at a time."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from lithair_node.lab.local_cluster import LocalCluster, free_ports
from lithair_node.node.config import read_secret_file
from lithair_node.node.raft.membership_probe import ProbeOutcome, probe_raft_peer
from tests.http_helpers import Answer, get, request, wait_for


def add_member(url: str, address: object, timeout_s: float = 30.0) -> Answer:
    return request("POST", f"{url}/api/v1/members", json.dumps({"raft_address": address}).encode(),
                   {"Content-Type": "application/json"}, timeout_s)


def member_addresses(url: str) -> set[str]:
    return {m["raft_address"] for m in get(f"{url}/api/v1/members").body["members"]}


class SilentPort:
    """A TCP port that accepts connections and never answers (the probe must time out), or
    closes them at once after reading (a server that does not speak our password)."""

    def __init__(self, answer_nothing: bool) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.answer_nothing = answer_nothing
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.answer_nothing:
                self.held.append(conn)
            else:
                conn.recv(4096)
                conn.close()

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.listener.close()


@pytest.fixture
def silent_port() -> Iterator[SilentPort]:
    port = SilentPort(answer_nothing=True)
    yield port
    port.close()


def test_the_probe_completes_the_handshake_only_with_the_password(cluster: LocalCluster) -> None:
    password = read_secret_file(cluster.password_file)
    spec = cluster.specs[0]
    assert probe_raft_peer(spec.host, spec.raft_port, password, 5.0) is ProbeOutcome.OK
    assert probe_raft_peer(spec.host, spec.raft_port, password + "x", 5.0) \
        is ProbeOutcome.WRONG_PASSWORD
    (unused,) = free_ports(1)
    assert probe_raft_peer("127.0.0.1", unused, password, 5.0) is ProbeOutcome.UNREACHABLE


@pytest.mark.parametrize("address", ["nohost", ":9000", "127.0.0.1:", "127.0.0.1:0",
                                     "127.0.0.1:65536", "127.0.0.1:9²", "127.0.0.1: 90",
                                     "a b:9000", 9000, None])
def test_malformed_addresses_are_refused(cluster: LocalCluster, address: object) -> None:
    answer = add_member(cluster.urls[1], address)
    assert answer.status == 400, answer
    assert answer.error["code"] == "invalid_parameter"
    assert answer.error["field"] == "raft_address"


def test_unusable_members_are_refused_and_nothing_is_proposed(cluster: LocalCluster) -> None:
    before = member_addresses(cluster.urls[0])
    (unused,) = free_ports(1)
    closing = SilentPort(answer_nothing=False)
    try:
        cases = {
            "bogus.invalid:9000": "does not resolve",
            "999.999.999.999:9000": "does not resolve",
            f"127.0.0.1:{unused}": "nothing accepts connections",
            f"127.0.0.1:{closing.port}": "wrong Raft password",
        }
        for address, reason in cases.items():
            for url in cluster.urls:  # the leader, and followers forwarding to it
                answer = add_member(url, address)
                assert answer.status == 422, (address, answer)
                assert answer.error["code"] == "invalid_member"
                assert answer.error["field"] == "raft_address"
                assert reason in answer.error["message"]
    finally:
        closing.close()
    for url in cluster.urls:
        assert member_addresses(url) == before
    assert all(get(f"{u}/readyz").status == 200 for u in cluster.urls)


def test_a_member_under_another_name_is_refused(cluster: LocalCluster) -> None:
    spec = cluster.specs[2]
    answer = add_member(cluster.urls[0], f"localhost:{spec.raft_port}")
    assert answer.status == 409, answer
    assert f"is the member {spec.raft_address}" in answer.error["message"]
    assert len(member_addresses(cluster.urls[0])) == 3


def test_a_second_change_while_one_is_in_progress_gets_409(cluster: LocalCluster,
                                                           silent_port: SilentPort) -> None:
    leader_index = cluster.leader_index() or 0
    leader = cluster.urls[leader_index]
    follower = cluster.urls[(leader_index + 1) % 3]
    first: list[Answer] = []
    slow = threading.Thread(target=lambda: first.append(
        add_member(leader, f"127.0.0.1:{silent_port.port}")))
    slow.start()
    # The first change is being probed (its port never answers) while holding the change slot.
    wait_for(lambda: silent_port.held, 10, what="the probe of the first change")
    (unused,) = free_ports(1)
    seconds = {
        "an add at the leader": add_member(leader, f"127.0.0.1:{unused}"),
        # Forwarded from a follower: refused by the leader that holds the slot.
        "an add through a follower": add_member(follower, f"127.0.0.1:{unused}"),
        "a removal through a follower": request(
            "DELETE", f"{follower}/api/v1/members/{cluster.specs[leader_index].raft_address}"),
    }
    slow.join(timeout=30)
    for what, second in seconds.items():
        assert second.status == 409, (what, second)
        assert "another membership change is in progress" in second.error["message"], what
    assert first[0].status == 422, first  # the probe timed out: not our peer
    assert len(member_addresses(leader)) == 3


def test_a_change_that_loses_the_majority_is_refused(fresh_cluster: LocalCluster) -> None:
    cluster = fresh_cluster
    leader = cluster.leader_index()
    assert leader is not None
    down, other = (i for i in range(3) if i != leader)
    cluster.stop_node(down)
    leader_url = cluster.urls[leader]

    def sees_it_down() -> bool:
        members = get(f"{leader_url}/api/v1/members").body["members"]
        return any(m["raft_address"] == cluster.specs[down].raft_address and not m["connected"]
                   for m in members)

    wait_for(sees_it_down, 30, what="the leader to see the stopped node disconnected")
    # Removing the live follower would leave {leader, stopped node}: 1 of 2 connected.
    for url in (leader_url, cluster.urls[other]):
        answer = request("DELETE", f"{url}/api/v1/members/{cluster.specs[other].raft_address}")
        assert answer.status == 409, answer
        assert "not a majority" in answer.error["message"]
    assert len(member_addresses(leader_url)) == 3
    # Removing the dead one keeps {leader, live follower}, both connected: allowed.
    answer = request("DELETE", f"{leader_url}/api/v1/members/{cluster.specs[down].raft_address}")
    assert answer.status == 200, answer
    assert member_addresses(leader_url) == {cluster.specs[i].raft_address for i in (leader, other)}
