"""The demo load of `lithair cluster up --demo`: a small, real write load through the
leader-following client, so a fresh cluster has data to query."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lithair_node.client.cluster_client import ClusterClient
from lithair_node.client.inject import inject
from lithair_node.client.sources import file_batches, synthetic_batches

# The Intel Lab sample shipped in the repository, replayed when present.
DEMO_FILE = Path(__file__).resolve().parents[2] / "data" / "intel_lab_sample.txt"
SYNTHETIC_READINGS = 20_000


async def run_demo(urls: list[str], token: str | None, say: Callable[[str], None]) -> None:
    """Write the demo load into the last node (a follower as often as not: the client
    finds the leader), telling `say` what it does and how it went."""
    if DEMO_FILE.exists():
        say(f"demo: replaying {DEMO_FILE.name} (real Intel Lab readings) into {urls[-1]}")
        source, limit = file_batches(DEMO_FILE, "intel-lab", 500), None
    else:
        say(f"demo: writing {SYNTHETIC_READINGS:,} synthetic readings")
        source, limit = synthetic_batches(20, 500), SYNTHETIC_READINGS
    async with ClusterClient([urls[-1], *urls[:-1]], token=token) as client:
        report = await inject(client, source, concurrency=2, max_readings=limit)
    summary = report.summary()
    say(f"demo: {summary['readings']['acked']:,} readings acked, "
        f"{summary['readings']['failed']:,} failed, "
        f"p99 ack {summary['latency_ms']['p99']} ms")
