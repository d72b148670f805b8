"""Failover on the leader's connection loss (prevote_hooks._SyncObj__onNodeDisconnected),
with real processes, real signals and real TCP connections on loopback:
- kill -9 of the leader: its kernel closes its sockets, the followers elect a new leader
  long before their election timeout (4-6 s here) could fire;
- a follower's connection to a live leader cut (`ss -K`, the kernel's SOCK_DESTROY: both
  ends see the connection reset, as after a network blip): the follower asks a pre-vote,
  is refused, and nobody changes leader or term;
- SIGSTOP of the leader: no FIN, the connections stay open, the failover comes from the
  election timeout as before.
Event times come from the nodes' election-trace lines (node/raft/election_trace.py)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lithair_node.lab.leader_watch import LeaderWatch
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.node.raft.election_trace import parse
from lithair_node.polling import wait_until
from tests.cluster_fixtures import start_cluster
from tests.http_helpers import post_json

LONG_TIMEOUT = ("--election-timeout", "4.0-6.0", "--leader-fallback-timeout", "8")
ELECTION_MIN_S = 4.0
CONNECTION_TIMEOUT_S = 4.0  # RaftTuning.connection_timeout_s
FAST_BOUND_S = 2.0  # far below the 4 s minimum timeout, with room for a loaded 2-core box


@pytest.fixture
def slow_timer_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path, extra_args=LONG_TIMEOUT)
    yield running
    running.stop()


def trace_events(cluster: LocalCluster, index: int, event: str,
                 after: float = 0.0) -> list[dict[str, str]]:
    path = cluster.specs[index].data_dir / "node.log"
    found = []
    for line in path.read_text(errors="replace").splitlines():
        parsed = parse(line)
        if parsed is not None and parsed[1] == event and parsed[0] >= after:
            found.append({"t": str(parsed[0]), **parsed[2]})
    return found


def steady_leader(cluster: LocalCluster) -> tuple[int, int]:
    """(index, term) of the leader, once a write commits through it."""
    wait_until(lambda: cluster.leader_index() is not None, 30, what="a leader")  # 0 leads too
    leader = cluster.leader_index()
    assert leader is not None
    body = {"readings": [{"sensor_id": "conn-loss", "timestamp": int(time.time()),
                          "temperature": 1.0}]}
    assert post_json(cluster.urls[leader], body).status == 200
    cluster.wait_converged()
    status = cluster.status(leader)
    assert status is not None and status["role"] == "leader"
    return leader, int(status["term"])


def test_killed_leader_is_replaced_before_the_election_timeout(
        slow_timer_cluster: LocalCluster) -> None:
    cluster = slow_timer_cluster
    leader, term = steady_leader(cluster)
    # The condition under test, not a readiness wait: the two followers have not talked for
    # longer than PySyncObj's connection timeout (4 s). Without our keepalives the first
    # pre-vote on that silent connection was dropped (the read timeout is checked only when
    # the next message arrives), and with only two survivors nobody could win until a
    # normal election timeout.
    quiet_until = time.monotonic() + CONNECTION_TIMEOUT_S + 1.0
    wait_until(lambda: time.monotonic() >= quiet_until, CONNECTION_TIMEOUT_S + 5,
               what="the followers' connection to stay quiet past the connection timeout")
    with LeaderWatch(cluster.urls) as watch:
        watch.wait_leader(10)
        killed_at = time.monotonic()
        cluster.kill_node(leader)
        elected = watch.wait_leader(ELECTION_MIN_S + 10, min_term=term + 1,
                                    exclude=cluster.urls[leader])
    took = elected.at - killed_at
    survivors = [i for i in range(3) if i != leader]
    lost = [e for i in survivors for e in trace_events(cluster, i, "leader_connection_lost",
                                                       killed_at)]
    assert lost, "no survivor saw its connection to the killed leader close"
    assert took < FAST_BOUND_S, (took, lost)
    assert elected.term == term + 1  # one campaign, no split vote
    cluster.start_node(leader)
    cluster.wait_ready()
    cluster.wait_converged()


def _destroy_support() -> bool:
    """Can this kernel destroy a socket from outside (ss -K, CONFIG_INET_DIAG_DESTROY)?"""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    try:
        subprocess.run(["ss", "-K", "dst", "127.0.0.1", "dport", "=", str(port)],
                       capture_output=True, check=False, timeout=10)
        accepted.settimeout(2)
        try:
            return accepted.recv(1) == b""
        except OSError:
            return True  # reset by the peer: destroyed
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        for sock in (client, accepted, server):
            sock.close()


def _local_ports(pid: int) -> set[int]:
    """Local ports of the established TCP sockets of `pid`."""
    out = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True,
                         text=True, check=True, timeout=10).stdout
    ports = set()
    for line in out.splitlines():
        if f"pid={pid}," in line:
            local = line.split()[2]
            ports.add(int(local.rsplit(":", 1)[1]))
    return ports


def cut_connection(cluster: LocalCluster, a: int, b: int) -> int:
    """Destroy the TCP connection(s) between node a and node b's Raft ports; how many."""
    pid_a, pid_b = cluster.processes[a].pid, cluster.processes[b].pid
    ports_b = _local_ports(pid_b)
    out = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True,
                         text=True, check=True, timeout=10).stdout
    cut = 0
    for line in out.splitlines():
        if f"pid={pid_a}," not in line:
            continue
        local, peer = line.split()[2:4]
        local_port, peer_port = int(local.rsplit(":", 1)[1]), int(peer.rsplit(":", 1)[1])
        raft_ports = (cluster.specs[a].raft_port, cluster.specs[b].raft_port)
        if peer_port in ports_b and (local_port in raft_ports or peer_port in raft_ports):
            subprocess.run(["ss", "-K", "src", f"127.0.0.1:{local_port}",
                            "dst", f"127.0.0.1:{peer_port}"],
                           capture_output=True, check=True, timeout=10)
            cut += 1
    return cut


@pytest.mark.skipif(not _destroy_support(), reason="this kernel cannot destroy sockets (ss -K)")
def test_connection_blip_to_a_live_leader_changes_nothing(
        slow_timer_cluster: LocalCluster) -> None:
    """Each cut arms the follower's short pre-vote delay. Either it hears its leader again
    first (the side that dialled reconnects at once), or it asks and both peers, which
    still hear the leader, refuse: no campaign, same leader, same term, every time."""
    cluster = slow_timer_cluster
    leader, term = steady_leader(cluster)
    leader_address = cluster.specs[leader].raft_address
    follower, other = (leader + 1) % 3, (leader + 2) % 3
    asked = 0
    with LeaderWatch(cluster.urls) as watch:
        watch.wait_leader(10)
        first_cut = time.monotonic()
        for _ in range(3):
            cut_at = time.monotonic()
            assert cut_connection(cluster, follower, leader) >= 1
            lost = wait_until(
                lambda at=cut_at: trace_events(cluster, follower, "leader_connection_lost", at),
                10, what="the follower to see its leader's connection close")
            due = float(lost[0]["t"]) + float(lost[0]["pre_vote_in"]) + 0.5

            def settled(due: float = due) -> bool:
                """Past the pre-vote it may have asked, following the leader, connected."""
                if time.monotonic() < due:
                    return False
                status = cluster.status(follower)
                if not status or not status.get("leader") or \
                        status["leader"]["raft_address"] != leader_address:
                    return False
                return any(p["raft_address"] == leader_address and p["connected"]
                           for p in status["peers"])

            wait_until(settled, 20, what="the follower to follow its leader again")
            answers = trace_events(cluster, follower, "pre_vote_answer", cut_at)
            assert all(a["granted"] == "False" for a in answers), answers
            asked += bool(trace_events(cluster, follower, "pre_vote_start", cut_at))
        events = [e for e in watch.events if e.at >= first_cut]
    print(f"the follower asked a pre-vote after {asked} of 3 cuts")
    assert not [e for e in events if e.role == "candidate"], events
    assert not trace_events(cluster, follower, "campaign", first_cut)
    assert not trace_events(cluster, other, "leader_connection_lost", first_cut)
    for index in range(3):
        status = cluster.status(index)
        assert status is not None
        assert status["term"] == term, (index, status["term"], term)
        assert status["leader"]["raft_address"] == leader_address
    assert steady_leader(cluster) == (leader, term)


def test_stopped_leader_fails_over_by_the_election_timeout(fresh_cluster: LocalCluster) -> None:
    """SIGSTOP: the process is alive, its sockets open, no FIN: the followers wait for their
    election timeout (1.0-2.0 s by default), then elect a leader as before."""
    cluster = fresh_cluster
    leader, term = steady_leader(cluster)
    with LeaderWatch(cluster.urls) as watch:
        watch.wait_leader(10)
        stopped_at = time.monotonic()
        cluster.signal_node(leader, signal.SIGSTOP)
        try:
            elected = watch.wait_leader(30, min_term=term + 1, exclude=cluster.urls[leader])
        finally:
            cluster.signal_node(leader, signal.SIGCONT)
    took = elected.at - stopped_at
    survivors = [i for i in range(3) if i != leader]
    assert not [e for i in survivors
                for e in trace_events(cluster, i, "leader_connection_lost", stopped_at)]
    starts = [e for i in survivors for e in trace_events(cluster, i, "pre_vote_start", stopped_at)]
    assert starts and min(float(e["t"]) for e in starts) - stopped_at >= 1.0 - 0.1, starts
    assert took >= 1.0, took  # not before the minimum election timeout
    cluster.wait_ready()
    status = cluster.status(leader)
    assert status is not None and status["role"] == "follower"
    cluster.wait_converged()


def test_trace_lines_parse() -> None:
    line = ("2026-12-01 10:00:00,000 INFO [lithair_node.node.raft.election_trace] "
            "election-trace t=12.5000 pre_vote_start term=3 heard_ago=None late=0.0100")
    assert parse(line) == (12.5, "pre_vote_start",
                           {"term": "3", "heard_ago": "None", "late": "0.0100"})
    assert parse("2026-12-01 INFO [x] raft role follower -> leader") is None
