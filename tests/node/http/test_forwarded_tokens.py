"""Tokens on the forwarded and admin paths of a 3-node cluster run with `--token-file` and
`--read-token-file` (README, Security and Reading: consistency; DESIGN, "Read path"):

- a `leader` read sent to a follower is forwarded with the caller's token (the leader
  checks it again), and is 401 without one;
- a forwarded request reaching a node that does not lead is 503, never a second hop;
- the member routes need the write token (401 without, 403 with the read token), and work
  with it, forwarded from a follower too, from the `lithair members` CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lithair_node import api
from lithair_node.client.blocking_api import http_json
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.lab.secret_files import write_secret
from tests.http_helpers import Answer, get, post_json, request, wait_for

WRITE_TOKEN, READ_TOKEN = "w-forward-secret", "r-forward-secret"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    base = tmp_path_factory.mktemp("tokens")
    token_file = write_secret(base / "token", WRITE_TOKEN)
    read_token_file = write_secret(base / "read-token", READ_TOKEN)
    cluster = LocalCluster(base, token_file=token_file,
                           extra_args=("--read-token-file", str(read_token_file))).start()
    try:
        wait_for(lambda: leader_of(cluster) is not None and all(
            http_json(f"{url}{api.READYZ}")[0] == 200 for url in cluster.urls), 60,
            what="the guarded cluster ready with a leader")
        yield cluster
    finally:
        cluster.stop()


def leader_of(cluster: LocalCluster) -> int | None:
    for index, url in enumerate(cluster.urls):
        code, body = http_json(f"{url}{api.CLUSTER_STATUS}", token=READ_TOKEN)
        if code == 200 and body["role"] == "leader":
            return index
    return None


def roles(cluster: LocalCluster) -> tuple[int, list[int]]:
    leader = leader_of(cluster)
    assert leader is not None
    return leader, [i for i in range(cluster.nodes) if i != leader]


def members_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lithair_node", "members", *args],
                          capture_output=True, text=True, timeout=60)


def test_a_leader_read_is_forwarded_with_the_callers_token(guarded: LocalCluster) -> None:
    leader, followers = roles(guarded)
    written = post_json(guarded.urls[leader], {"readings": [
        {"sensor_id": "fwd", "timestamp": 1, "t": 1.0}]}, headers=auth(WRITE_TOKEN))
    assert written.status == 200, written
    url = f"{guarded.urls[followers[0]]}/api/v1/sensors/fwd/latest?consistency=leader"
    leader_id = guarded.specs[leader].node_id
    for token in (READ_TOKEN, WRITE_TOKEN):
        answer = get(url, headers=auth(token))
        # Served by the leader: it saw the caller's token, or it would have answered 401.
        assert answer.status == 200, answer
        assert answer.headers[api.NODE_HEADER] == leader_id
        assert answer.body["values"] == {"t": 1.0}
    assert get(url).status == 401
    assert get(url, headers=auth("not-the-token")).status == 401


def test_a_forwarded_request_at_a_node_that_does_not_lead_is_503_not_a_second_hop(
        guarded: LocalCluster) -> None:
    _, followers = roles(guarded)
    follower = guarded.urls[followers[0]]
    forwarded = {**auth(WRITE_TOKEN), api.FORWARDED_HEADER: guarded.specs[followers[1]].node_id}
    read = get(f"{follower}{api.STATS}?consistency=leader", headers=forwarded)
    assert read.status == 503, read
    assert read.error["code"] == "no_leader" and "does not lead" in read.error["message"]
    assert api.RETRY_AFTER in read.headers
    change = request("POST", f"{follower}{api.MEMBERS}",
                     json.dumps({"raft_address": "127.0.0.1:1"}).encode(),
                     {**forwarded, "Content-Type": "application/json"})
    assert change.status == 503, change
    assert "does not lead" in change.error["message"]
    # The same requests without the header are forwarded to the leader and answered there.
    assert get(f"{follower}{api.STATS}?consistency=leader", headers=auth(READ_TOKEN)).status == 200


def member_change(url: str, method: str, token: str | None, address: str) -> Answer:
    headers = {"Content-Type": "application/json", **(auth(token) if token else {})}
    if method == "POST":
        return request("POST", f"{url}{api.MEMBERS}",
                       json.dumps({"raft_address": address}).encode(), headers)
    return request("DELETE", f"{url}{api.MEMBERS}/{address}", None, headers)


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_member_changes_need_the_write_token(guarded: LocalCluster, method: str) -> None:
    leader, followers = roles(guarded)
    for index in (leader, followers[0]):  # on the leader, and forwarded from a follower
        url = guarded.urls[index]
        assert member_change(url, method, None, "127.0.0.1:1").status == 401
        assert member_change(url, method, "not-the-token", "127.0.0.1:1").status == 401
        assert member_change(url, method, READ_TOKEN, "127.0.0.1:1").status == 403
        # With the write token the change reaches the leader's checks (and is refused by
        # them: nothing answers on that port, and it is not a member).
        checked = member_change(url, method, WRITE_TOKEN, "127.0.0.1:1")
        assert checked.status == (422 if method == "POST" else 409), checked
    assert get(f"{guarded.urls[leader]}{api.MEMBERS}").status == 401
    listing = get(f"{guarded.urls[leader]}{api.MEMBERS}", headers=auth(READ_TOKEN))
    assert listing.status == 200 and len(listing.body["members"]) == 3


def test_the_cli_removes_a_follower_through_another_follower_with_the_token(
        guarded: LocalCluster, tmp_path: Path) -> None:
    """Last in the module: the cluster keeps two members."""
    leader, (via, gone) = roles(guarded)
    address = guarded.specs[gone].raft_address
    refused = members_cli("remove", address, "--node", guarded.urls[via],
                          "--data-dir", str(tmp_path))  # no token file there
    assert refused.returncode != 0 and "401" in refused.stdout + refused.stderr, refused
    token_file = str(guarded.token_file)
    removed = members_cli("remove", address, "--node", guarded.urls[via], "--token-file", token_file)
    assert removed.returncode == 0, removed.stderr
    remaining = [guarded.urls[i] for i in (leader, via)]

    def removed_everywhere() -> bool:
        listings = [get(f"{u}{api.MEMBERS}", headers=auth(READ_TOKEN)).body["members"]
                    for u in remaining]
        return all({m["raft_address"] for m in members} == {
            guarded.specs[leader].raft_address, guarded.specs[via].raft_address}
            for members in listings)

    wait_for(removed_everywhere, 30, what="the two others to list two members")
    guarded.stop_node(gone)
    written = post_json(guarded.urls[via], {"readings": [
        {"sensor_id": "after-cli-removal", "timestamp": 1, "t": 1.0}]}, headers=auth(WRITE_TOKEN))
    assert written.status == 200, written
