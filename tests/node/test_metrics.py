"""GET /metrics' exposition: every metric with the figures its providers give, readable by
prometheus-client's parser and clean by `promtool check metrics` (Debian's `prometheus`)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lithair_node.node.metrics import (
    BATCH_RESULTS,
    INGEST_ENDPOINTS,
    JSON_DECODERS,
    NodeMetrics,
    ProposerFigures,
)
from lithair_node.node.raft.types import RaftStatus, unready_status

LEADER = RaftStatus(role="leader", leader="10.0.0.1:4321", term=7, commit_index=120, applied_index=118,
                    leader_commit_index=120, log_length=121, has_quorum=True, peers=(), leader_changes=3,
                    last_leader_change_s=None, snapshot={"write_ms": 250.0, "bytes": 4096, "count": 2})
STATE = {"total_readings": 5000, "active_sensors": 12, "duplicate_readings": 40}


# The journal's histogram as its describe() gives it (cumulative counts per bound).
FSYNC = {"buckets": {"0.001": 3, "0.01": 9, "+Inf": 10}, "count": 10, "sum": 0.042}


def node_metrics(raft: RaftStatus = LEADER) -> NodeMetrics:
    return NodeMetrics(raft_status=lambda: raft, state_stats=lambda: STATE,
                       proposer=lambda: ProposerFigures(pending_proposals=4, failed_proposals=2),
                       fsync_latency=lambda: FSYNC)


def scrape(metrics: NodeMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of one scrape."""
    text = metrics.exposition().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_a_scrape_has_every_metric_with_its_value() -> None:
    metrics = node_metrics()
    metrics.ingest.record("influx_v2", "accepted", readings=500)
    metrics.ingest.record("batches", "accepted", readings=20)
    metrics.ingest.record("batches", "overloaded")
    metrics.observe("/api/v2/write", 204, 0.003)
    metrics.observe("/api/v2/write", 204, 0.2)
    samples = scrape(metrics)
    expected = {
        "lithair_raft_has_leader": 1, "lithair_raft_is_leader": 1, "lithair_raft_term": 7,
        "lithair_raft_commit_index": 120, "lithair_raft_applied_index": 118,
        "lithair_raft_leader_changes_seen_total": 3, "lithair_raft_proposals_failed_total": 2,
        "lithair_raft_proposals_pending": 4, "lithair_snapshot_duration_seconds": 0.25,
        "lithair_snapshot_bytes": 4096, "lithair_ingest_duplicate_readings_total": 40,
        "lithair_state_readings": 5000, "lithair_state_sensors": 12,
    }
    for name, value in expected.items():
        assert samples[name, ()] == value, name
    assert samples["lithair_ingest_readings_total", (("endpoint", "influx_v2"),)] == 500
    assert samples["lithair_ingest_readings_total", (("endpoint", "batches"),)] == 20
    assert samples["lithair_ingest_batches_total", (("result", "accepted"),)] == 2
    assert samples["lithair_ingest_batches_total", (("result", "overloaded"),)] == 1
    for endpoint in INGEST_ENDPOINTS:  # present at zero before the first write
        assert ("lithair_ingest_readings_total", (("endpoint", endpoint),)) in samples
    for result in BATCH_RESULTS:
        assert ("lithair_ingest_batches_total", (("result", result),)) in samples
    for decoder in JSON_DECODERS:
        assert samples["lithair_ingest_json_bodies_total", (("decoder", decoder),)] == 0
    route = (("route", "/api/v2/write"), ("status", "204"))
    assert samples["lithair_http_request_duration_seconds_count", route] == 2
    assert samples["lithair_http_request_duration_seconds_sum", route] == pytest.approx(0.203)
    assert samples["lithair_http_request_duration_seconds_bucket", (("le", "0.005"), *route)] == 1
    assert samples["process_resident_memory_bytes", ()] > 0
    assert samples["process_cpu_seconds_total", ()] >= 0


def test_a_follower_without_leader_or_snapshot() -> None:
    samples = scrape(node_metrics(unready_status()))
    assert samples["lithair_raft_has_leader", ()] == 0 and samples["lithair_raft_is_leader", ()] == 0
    # No snapshot yet: no sample, rather than a size of zero.
    assert ("lithair_snapshot_bytes", ()) not in samples
    assert ("lithair_snapshot_duration_seconds", ()) not in samples


def test_figures_are_read_at_scrape_time() -> None:
    status = {"now": LEADER}
    metrics = NodeMetrics(raft_status=lambda: status["now"], state_stats=lambda: STATE,
                          proposer=lambda: ProposerFigures(0, 0))
    assert scrape(metrics)["lithair_raft_is_leader", ()] == 1
    status["now"] = unready_status()
    assert scrape(metrics)["lithair_raft_is_leader", ()] == 0


def test_nodes_in_one_process_have_their_own_registries() -> None:
    first, second = node_metrics(), node_metrics(unready_status())
    first.observe("/health", 200, 0.001)
    assert scrape(first)["lithair_raft_is_leader", ()] == 1
    assert scrape(second)["lithair_raft_is_leader", ()] == 0
    assert "lithair_http_request_duration_seconds_count" not in {name for name, _ in scrape(second)}


def test_promtool_finds_nothing_to_fix() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: apt-get install prometheus (Debian)"
    metrics = node_metrics()
    metrics.ingest.record("mqtt", "accepted", readings=3)
    metrics.observe("/api/v1/batches", 200, 0.01)
    checked = subprocess.run([promtool, "check", "metrics"], input=metrics.exposition(),
                             capture_output=True, timeout=60, check=False)
    assert checked.returncode == 0 and not checked.stdout.strip() and not checked.stderr.strip(), (
        checked.stdout + checked.stderr).decode()


def test_the_journal_fsync_latency_is_a_histogram() -> None:
    samples = scrape(node_metrics())
    name = "lithair_journal_fsync_duration_seconds"
    assert samples[(f"{name}_bucket", (("le", "0.001"),))] == 3
    assert samples[(f"{name}_bucket", (("le", "0.01"),))] == 9
    assert samples[(f"{name}_bucket", (("le", "+Inf"),))] == 10
    assert samples[(f"{name}_count", ())] == 10
    assert samples[(f"{name}_sum", ())] == 0.042
