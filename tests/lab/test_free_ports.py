"""free_ports: what the test clusters and benchmarks bind their nodes to."""

import socket

import pytest

from lithair_node.lab import local_cluster
from lithair_node.lab.local_cluster import _RUN_PORTS, free_port_run, free_ports


@pytest.fixture(autouse=True)
def fresh_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from an empty record of handed-out ports (the suite's clusters fill it)."""
    monkeypatch.setattr(local_cluster, "_handed_out", set())


def test_ports_are_distinct_bindable_and_outside_the_ephemeral_range() -> None:
    ports = free_ports(6)
    assert len(set(ports)) == 6
    assert all(port in _RUN_PORTS for port in ports)
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_is_never_handed_out_twice_though_its_first_taker_has_not_bound_it() -> None:
    # A cluster asks once for its HTTP ports and once for its Raft ports, and binds none of
    # them until its nodes start: the second answer must not repeat the first.
    seen: set[int] = set()
    for _ in range(300):
        ports = free_ports(3)
        assert seen.isdisjoint(ports)
        seen.update(ports)


def test_a_consecutive_run_avoids_ports_already_handed_out() -> None:
    handed = set(free_ports(50))
    for _ in range(50):
        start = free_port_run(3)
        assert handed.isdisjoint(range(start, start + 3))
        handed.update(range(start, start + 3))
