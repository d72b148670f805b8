from __future__ import annotations

from lithair_node.node.raft.journal import LatencyHistogram


def test_buckets_are_cumulative_with_count_and_sum() -> None:
    histogram = LatencyHistogram(buckets_s=(0.001, 0.01, 0.1))
    for seconds in (0.0005, 0.001, 0.002, 0.05, 3.0):
        histogram.observe(seconds)
    snapshot = histogram.as_dict()
    assert snapshot["buckets"] == {"0.001": 2, "0.01": 3, "0.1": 4, "+Inf": 5}
    assert snapshot["count"] == 5 and abs(snapshot["sum"] - 3.0535) < 1e-9


def test_prometheus_exposition() -> None:
    histogram = LatencyHistogram(buckets_s=(0.01,))
    histogram.observe(0.002)
    assert histogram.prometheus_lines("lithair_fsync_seconds", "journal fdatasync latency") == [
        "# HELP lithair_fsync_seconds journal fdatasync latency",
        "# TYPE lithair_fsync_seconds histogram",
        'lithair_fsync_seconds_bucket{le="0.01"} 1',
        'lithair_fsync_seconds_bucket{le="+Inf"} 1',
        "lithair_fsync_seconds_sum 0.002",
        "lithair_fsync_seconds_count 1",
    ]
