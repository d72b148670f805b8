"""Real 3-node clusters of `lithair serve` processes on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lithair_node.lab.local_cluster import LocalCluster


def start_cluster(base: Path, nodes: int = 3, extra_args: tuple[str, ...] = ()) -> LocalCluster:
    cluster = LocalCluster(base, nodes=nodes, extra_args=extra_args).start()
    try:
        cluster.wait_ready(timeout_s=60)
    except BaseException:
        for index in range(nodes):
            print(f"--- {cluster.specs[index].node_id} log ---\n{cluster.log_tail(index)}")
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One cluster shared by a test module; tests use their own sensor ids."""
    running = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield running
    running.stop()


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of its own, for tests that kill or restart nodes."""
    running = start_cluster(tmp_path)
    yield running
    running.stop()
