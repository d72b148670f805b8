"""Waiting for a LocalCluster to be ready while its owner may be told to stop."""

from __future__ import annotations

from collections.abc import Callable

from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.polling import wait_until

# How often the wait looks at `stopped` (it asks the cluster in between).
SLICE_S = 1.0


def wait_ready_unless_stopped(local: LocalCluster, stopped: Callable[[], bool],
                              timeout_s: float = 60.0) -> None:
    """LocalCluster.wait_ready, given up at once (without an error) when `stopped()` turns
    true, e.g. Ctrl-C while waiting. TimeoutError after `timeout_s`; RuntimeError when a
    node exited."""

    def ready_or_stopped() -> bool:
        if stopped():
            return True
        try:
            local.wait_ready(timeout_s=SLICE_S)
        except TimeoutError:
            return False
        return True

    wait_until(ready_or_stopped, timeout_s, period_s=0.0, what="cluster ready")
