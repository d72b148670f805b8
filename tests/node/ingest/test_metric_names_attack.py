"""Issue 11's attack on a real 3-node cluster: sensor `big` holds 100,000 readings of one
metric, then writes each bring 64 new metric names. Before, every such write added a value
slot per name to every reading of `big` (~60 MB a request on every node) and the log entry
carried the dense matrix. Now what a write costs follows the values it carries, and the
write past the per-sensor limit (256) gets a 422 with earlier data untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lithair_node import api
from lithair_node.lab.local_cluster import LocalCluster
from tests.http_helpers import get, post_json

T0 = 1_700_000_000  # epoch seconds
NAMES = 64


def _rss_bytes(cluster: LocalCluster, index: int) -> int:
    status = Path(f"/proc/{cluster.processes[index].pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def _journal_bytes(cluster: LocalCluster, index: int) -> int:
    journal = cluster.specs[index].data_dir / "journal"
    return sum(p.stat().st_size for p in journal.rglob("*") if p.is_file())


def _new_names(url: str, batch: int, ts: int) -> Any:
    values = {f"n{batch}_{i:02d}": float(i) for i in range(NAMES)}
    return post_json(url, {"readings": [{"sensor_id": "big", "timestamp": ts, **values}]})


def _big_stats(url: str) -> Any:
    answer = get(f"{url}{api.sensor_path(api.SENSOR_STATS, 'big')}")
    assert answer.status == 200, answer
    return answer.body


def test_new_metric_names_cost_what_they_carry_and_the_limit_refuses_the_rest(
        fresh_cluster: LocalCluster) -> None:
    cluster = fresh_cluster
    urls = cluster.urls
    for chunk in range(10):  # 100,000 readings of one metric
        ts = list(range(T0 + chunk * 10_000, T0 + (chunk + 1) * 10_000))
        answer = post_json(urls[0], {"columns": {"sensor_id": ["big"] * len(ts),
                                                 "timestamp": ts, "t": [1.5] * len(ts)}})
        assert answer.status == 200, answer
    cluster.wait_converged()
    stats_before = _big_stats(urls[1])
    rss = [_rss_bytes(cluster, i) for i in range(3)]
    journal = [_journal_bytes(cluster, i) for i in range(3)]

    for batch in range(3):  # 1 + 3 x 64 = 193 metric names: within the limit
        answer = _new_names(urls[batch], batch, T0 + 200_000 + batch)
        assert answer.status == 200, answer
    # 400 readings of a new sensor, 64 names among them, one value each: dense, the matrix
    # alone was 400 x 64 x 8 = 204,800 bytes of every entry
    sparse = [{"sensor_id": "wide", "timestamp": T0 + i, f"w{i % NAMES:02d}": float(i)}
              for i in range(400)]
    assert post_json(urls[2], {"readings": sparse}).status == 200
    states = cluster.wait_converged()
    assert {s["total_readings"] for s in states} == {100_000 + 3 + 400}

    for i in range(3):
        grown = _journal_bytes(cluster, i) - journal[i]
        assert 0 < grown < 40_000, (i, grown)  # 4 entries: ~20 bytes a value, not 8 a slot
        rss_grown = _rss_bytes(cluster, i) - rss[i]
        assert rss_grown < 32 * 1024 * 1024, (i, rss_grown)  # was ~60 MB per request

    for attempt, url in enumerate(urls[:2]):  # 193 + 64 = 257 > 256, on any node
        answer = _new_names(url, 10 + attempt, T0 + 300_000 + attempt)
        assert answer.status == 422, answer
        error = answer.error
        assert error["code"] == api.TOO_MANY_METRICS
        assert "'big'" in error["message"] and "limit of 256 per sensor" in error["message"]
        assert "it has 193" in error["message"] and "adds 64" in error["message"]
    states = cluster.wait_converged()
    assert {s["total_readings"] for s in states} == {100_000 + 3 + 400}
    after = _big_stats(urls[0])
    assert _metric(after, "t") == _metric(stats_before, "t")
    assert len(_metrics(after)) == 1 + 3 * NAMES
    assert all(cluster.is_running(i) for i in range(3))


def _metrics(body: Any) -> dict[str, Any]:
    metrics = body["metrics"]
    return metrics if isinstance(metrics, dict) else {m["metric"]: m for m in metrics}


def _metric(body: Any, name: str) -> Any:
    return _metrics(body)[name]
