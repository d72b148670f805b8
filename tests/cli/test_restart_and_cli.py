"""Nodes restarted on their data dirs come back with their data; the CLI tells the truth."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from lithair_node.client.blocking_api import http_json
from lithair_node.lab.local_cluster import LocalCluster, free_port_run
from lithair_node.polling import wait_until
from tests.http_helpers import post_json, stats, wait_for


def write(url: str, sensor: str, start: int, count: int, key: str | None = None,
          headers: dict[str, str] | None = None) -> dict:
    body = {"readings": [{"sensor_id": sensor, "timestamp": start + i, "temperature": float(i)}
                         for i in range(count)]}
    answer = post_json(url, body, key=key, headers=headers)
    assert answer.status == 200, answer
    return answer.body


def status_cli(urls: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lithair_node", "status", "--nodes", ",".join(urls), "--json"],
        capture_output=True, text=True, timeout=30,
    )


def test_restarted_nodes_come_back_with_their_data(fresh_cluster: LocalCluster) -> None:
    cluster = fresh_cluster
    for index, url in enumerate(cluster.urls):
        write(url, f"r{index}", 1_000, 300)
    digest = cluster.wait_converged()[0]["state_digest"]

    follower = next(i for i in range(3) if i != cluster.leader_index())
    cluster.stop_node(follower)  # clean SIGTERM
    write(cluster.urls[(follower + 1) % 3], "while-down", 5_000, 100)
    cluster.start_node(follower)
    cluster.wait_ready()
    converged = cluster.wait_converged()
    assert {s["total_readings"] for s in converged} == {1_000}

    leader = cluster.leader_index()
    cluster.kill_node(leader)  # kill -9
    cluster.start_node(leader)
    cluster.wait_ready()
    after = cluster.wait_converged()
    assert {s["total_readings"] for s in after} == {1_000}
    assert len({s["state_digest"] for s in after}) == 1
    assert after[0]["state_digest"] != digest  # the write made while a node was down is there


def test_status_cli_reports_roles_and_quorum(fresh_cluster: LocalCluster) -> None:
    cluster = fresh_cluster
    write(cluster.urls[0], "cli", 1, 10)
    cluster.wait_converged()
    done = status_cli(cluster.urls[:1])  # the others are discovered
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    rows = report["nodes"]
    assert sorted(r["role"] for r in rows) == ["follower", "follower", "leader"]
    assert len({r["applied_index"] for r in rows}) == 1
    assert {r["readings"] for r in rows} == {10}
    assert all(r["health"] == "ok" and r["lag"] == 0 for r in rows)

    table = subprocess.run([sys.executable, "-m", "lithair_node", "status", "--nodes",
                            ",".join(cluster.urls)], capture_output=True, text=True, timeout=30)
    assert table.returncode == 0
    assert "LEADER" in table.stdout and table.stdout.count("follower") == 2

    # Lose the majority: no node may report a quorum, and the exit code says so.
    cluster.kill_node(1)
    cluster.kill_node(2)
    done = wait_for(lambda: (answer := status_cli(cluster.urls)).returncode != 0 and answer,
                    what="status to report the lost quorum")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert [r["role"] for r in report["nodes"]].count("unreachable") == 2
    assert report["quorum"] is False
    # A write now cannot commit: a bounded 503 with Retry-After, never a hang.
    answer = post_json(cluster.urls[0], {"readings": [
        {"sensor_id": "x", "timestamp": 1, "temperature": 1.0}]}, timeout_s=20)
    assert answer.status == 503
    assert answer.error["code"] in ("no_leader", "outcome_unknown")
    assert "Retry-After" in answer.headers


def assert_no_secret_on_command_lines(data_dir: Path, secrets: list[str]) -> None:
    """Every process started for this data dir (the nodes, and cluster up itself): no secret
    in /proc/<pid>/cmdline, which any local user can read (`ps`)."""
    seen = 0
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:  # not a process, or gone meanwhile
            continue
        if str(data_dir).encode() in cmdline:
            seen += 1
            assert not any(secret.encode() in cmdline for secret in secrets), cmdline
    assert seen == 4  # cluster up and its three nodes


def assert_cli_finds_the_token(data_dir: Path, url: str) -> None:
    """`members add` of a malformed address: 400 once authorized, 401 before that."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITHAIR_")}
    base = [sys.executable, "-m", "lithair_node", "members", "add", "nohost", "--node", url]
    ways = {"--data-dir": [*base, "--data-dir", str(data_dir)],
            "LITHAIR_DATA_DIR": base, "LITHAIR_TOKEN_FILE": base, "none": base}
    envs = {"LITHAIR_DATA_DIR": {**env, "LITHAIR_DATA_DIR": str(data_dir)},
            "LITHAIR_TOKEN_FILE": {**env, "LITHAIR_TOKEN_FILE": str(data_dir / "token")}}
    for way, command in ways.items():
        done = subprocess.run(command, capture_output=True, text=True, timeout=30,
                              env=envs.get(way, env), cwd=data_dir)
        assert done.returncode == 1
        expected = "401 unauthorized" if way == "none" else "400 invalid_parameter"
        assert expected in done.stderr, (way, done.stderr)


def test_cluster_up_runs_and_stops_cleanly_and_restarts_with_data(tmp_path) -> None:
    http_port, raft_port = free_port_run(3), free_port_run(3)
    command = [sys.executable, "-m", "lithair_node", "cluster", "up", "--data-dir", str(tmp_path),
               "--http-port", str(http_port), "--raft-port", str(raft_port)]
    urls = [f"http://127.0.0.1:{http_port + i}" for i in range(3)]

    def run_until_ready(env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env={**os.environ, **(env or {})})
        def ready() -> bool:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            return all(http_json(f"{u}/readyz")[0] == 200 for u in urls)

        try:
            wait_for(ready, timeout_s=60, what="cluster up to become ready")
        except TimeoutError:
            process.kill()
            raise
        return process

    process = run_until_ready()
    try:
        token = (tmp_path / "token").read_text().strip()
        assert post_json(urls[1], {"readings": [{"sensor_id": "up", "timestamp": 1, "t": 1.0}]}
                         ).status == 401  # a token is generated when none is given
        write(urls[1], "up", 1, 25, headers={"Authorization": f"Bearer {token}"})
        assert_no_secret_on_command_lines(tmp_path, [token, (tmp_path / "raft-password")
                                                     .read_text().strip()])
        assert_cli_finds_the_token(tmp_path, urls[0])
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    assert "stopped" in out
    assert all(http_json(f"{u}/health")[0] == 0 for u in urls)  # every node is gone
    assert (tmp_path / "raft-password").stat().st_mode & 0o077 == 0
    assert (tmp_path / "token").stat().st_mode & 0o077 == 0

    given = "a-token-given-by-the-user"  # by environment: it stays off every command line
    process = run_until_ready({"LITHAIR_TOKEN": given})
    try:
        wait_for(lambda: stats(urls[0])["total_readings"] == 25, what="the data back")
        assert [stats(u)["total_readings"] for u in urls] == [25, 25, 25]
        write(urls[2], "up", 100, 1, headers={"Authorization": f"Bearer {given}"})
        assert (tmp_path / "token").read_text().strip() == given
        assert_no_secret_on_command_lines(tmp_path, [given])
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 0


def test_a_restarted_node_serves_reads_only_once_caught_up(fresh_cluster: LocalCluster) -> None:
    """Reads never go back in time on one node, also across its restart."""
    cluster = fresh_cluster
    write(cluster.urls[0], "mono", 1, 200)
    follower = next(i for i in range(3) if i != cluster.leader_index())
    seen = cluster.wait_converged()[follower]["total_readings"]
    cluster.kill_node(follower)
    write(cluster.urls[(follower + 1) % 3], "mono", 1_000, 50)
    cluster.start_node(follower)
    url = cluster.urls[follower]
    answers = []

    def served() -> bool:
        code, body = http_json(f"{url}/api/v1/stats")
        answers.append(code)
        if code == 200:
            # The first answer it gives already includes what it held and what it missed.
            assert body["total_readings"] == seen + 50
            return True
        if code == 503:
            assert body["error"]["code"] in ("starting", "no_leader"), body
        return False

    with contextlib.suppress(TimeoutError):  # the assertion below says what it answered
        wait_until(served, 60, period_s=0.02)
    assert answers[-1] == 200
