"""The durability benchmark's arithmetic: targets and the fsync histogram's quantiles."""

from lithair_node.lab.bench.durability import fsync_quantile_ms, verdict


def test_the_verdict_compares_medians_of_fsync_and_none_of_the_same_invocation() -> None:
    runs = [  # three rounds; the 60K none round is an outlier the median ignores
        {"mode": "none", "readings_per_s": 100_000}, {"mode": "fsync", "readings_per_s": 85_000},
        {"mode": "none", "readings_per_s": 60_000}, {"mode": "fsync", "readings_per_s": 70_000},
        {"mode": "none", "readings_per_s": 90_000}, {"mode": "fsync", "readings_per_s": 90_000},
        {"mode": "none", "rate": 50_000, "readings_per_s": 50_000, "latency_ms": {"p99": 40.0}},
        {"mode": "fsync", "rate": 50_000, "readings_per_s": 50_000, "latency_ms": {"p99": 70.0}},
        {"mode": "none", "rate": 50_000, "readings_per_s": 50_000, "latency_ms": {"p99": 20.0}},
        {"mode": "fsync", "rate": 50_000, "readings_per_s": 50_000, "latency_ms": {"p99": 35.0}},
    ]
    summary = verdict(runs)
    assert summary["fsync_vs_none_throughput"] == round(85_000 / 90_000, 3)
    assert summary["throughput_target_met"]
    assert summary["fsync_vs_none_p99"] == round(52.5 / 30.0, 2) and not summary["p99_target_met"]


def test_fsync_quantiles_are_bucket_bounds() -> None:
    histogram = {"buckets": {"0.001": 50, "0.005": 98, "0.01": 100, "+Inf": 100},
                 "count": 100, "sum": 0.2}
    assert fsync_quantile_ms(histogram, 0.5) == 1.0
    assert fsync_quantile_ms(histogram, 0.99) == 10.0
    assert fsync_quantile_ms({"buckets": {}, "count": 0, "sum": 0}, 0.99) is None
