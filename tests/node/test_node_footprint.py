"""What a running node loads: pyarrow (~50 MB resident: 15 MB heap, 38 MB of libraries)
only once something needs it, a Parquet export or a cold tier, never at start."""

from __future__ import annotations

from pathlib import Path

from lithair_node import api
from lithair_node.lab.local_cluster import LocalCluster
from tests.http_helpers import get, post_json


def maps_arrow(pid: int) -> bool:
    return "libarrow" in Path(f"/proc/{pid}/maps").read_text()


def test_pyarrow_is_loaded_by_the_first_export_not_at_start(cluster: LocalCluster) -> None:
    pids = [process.pid for process in cluster.processes.values()]
    assert len(pids) == 3 and not any(maps_arrow(pid) for pid in pids)
    url = cluster.urls[0]
    assert post_json(url, {"readings": [
        {"sensor_id": "footprint", "timestamp": 1_700_000_000, "temperature": 20.5}]}).status == 200
    answer = get(f"{url}{api.EXPORT}?sensor_id=footprint&format=parquet")
    assert answer.status == 200
    assert maps_arrow(pids[0]) and not any(maps_arrow(pid) for pid in pids[1:])
