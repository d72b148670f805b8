"""The node's Prometheus metrics (GET /metrics), named in etcd's style.

Figures the node already keeps (its Raft status, the state's stats, the proposer's) are
read at scrape time by a custom collector from the callables it is given, so the write
path counts nothing for Prometheus. What the node does not count yet lives in
IngestCounters: plain ints that the event loop bumps (one thread, so no lock). Only the
HTTP histogram is prometheus-client's own (its observe takes an uncontended lock, once
per request).

Each node has its own registry, so that several nodes in one process (tests, the lab) do
not clash; the standard process metrics are registered on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from lithair_node.node.raft.types import RaftStatus

# Label values created at zero, so that rate() and absent() work before the first event.
INGEST_ENDPOINTS: Final = ("batches", "influx_v2", "influx_v1", "mqtt")
BATCH_RESULTS: Final = ("accepted", "duplicate_batch", "invalid", "too_large", "overloaded",
                        "unavailable", "failed")
# How a JSON batch body was decoded: "typed", by a shape learnt from an accepted body
# (node/ingest/typed_rows.py); "usual", orjson then validation (any other shape, or a body
# the typed decoder cannot prove valid, e.g. an invalid one).
JSON_DECODERS: Final = ("typed", "usual")


@dataclass(frozen=True)
class ProposerFigures:
    pending_proposals: int  # client batches waiting on this node: queued or being replicated
    failed_proposals: int  # entries Raft refused, lost or did not commit in time, since start


@dataclass
class IngestCounters:
    """Bumped by the write handlers, on the event loop, once per request."""

    readings_by_endpoint: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(
        INGEST_ENDPOINTS, 0)))
    batches_by_result: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(
        BATCH_RESULTS, 0)))
    json_bodies_by_decoder: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(
        JSON_DECODERS, 0)))

    def record(self, endpoint: str, result: str, readings: int = 0) -> None:
        """One write request's outcome; `readings` stored (accepted, not duplicates)."""
        self.batches_by_result[result] += 1
        self.readings_by_endpoint[endpoint] += readings


class NodeMetrics:
    def __init__(self, *, raft_status: Callable[[], RaftStatus],
                 state_stats: Callable[[], Mapping[str, Any]],
                 proposer: Callable[[], ProposerFigures],
                 fsync_latency: Callable[[], Mapping[str, Any] | None] = lambda: None) -> None:
        self.registry = CollectorRegistry()
        self.ingest = IngestCounters()
        self.http_request_duration = Histogram(
            "lithair_http_request_duration_seconds", "HTTP requests by route template and status.",
            ["route", "status"], registry=self.registry)
        ProcessCollector(registry=self.registry)
        self.registry.register(_NodeCollector(raft_status, state_stats, proposer, self.ingest,
                                              fsync_latency))

    def observe(self, route: str, status: int, seconds: float) -> None:
        """One answered request; `route` is the route's template (a few values), never the
        raw path (one series per sensor id would be unbounded)."""
        self.http_request_duration.labels(route, str(status)).observe(seconds)

    def exposition(self) -> bytes:
        """The scrape, in Prometheus' text format."""
        return generate_latest(self.registry)


class _NodeCollector:
    """Reads the node's own figures at scrape time."""

    def __init__(self, raft_status: Callable[[], RaftStatus],
                 state_stats: Callable[[], Mapping[str, Any]],
                 proposer: Callable[[], ProposerFigures], ingest: IngestCounters,
                 fsync_latency: Callable[[], Mapping[str, Any] | None]) -> None:
        self._raft_status = raft_status
        self._fsync_latency = fsync_latency
        self._state_stats = state_stats
        self._proposer = proposer
        self._ingest = ingest

    def collect(self) -> Iterator[Metric]:
        yield from self._raft(self._raft_status(), self._proposer())
        yield from self._ingest_and_state(self._state_stats())
        latency = self._fsync_latency()
        if latency is not None:  # the journal's histogram (node/raft/journal/histogram.py)
            yield HistogramMetricFamily(
                "lithair_journal_fsync_duration_seconds",
                "How long the journal's group-commit fdatasync calls took.",
                buckets=list(latency["buckets"].items()), sum_value=latency["sum"])

    def _raft(self, raft: RaftStatus, proposer: ProposerFigures) -> Iterator[Metric]:
        yield _gauge("lithair_raft_has_leader", "1 if this node knows a leader.", raft.leader is not None)
        yield _gauge("lithair_raft_is_leader", "1 if this node is the leader.", raft.is_leader)
        yield _gauge("lithair_raft_term", "The Raft term this node is in.", raft.term)
        yield _gauge("lithair_raft_commit_index", "The highest log index known committed.",
                     raft.commit_index)
        yield _gauge("lithair_raft_applied_index", "The highest log index applied to the state.",
                     raft.applied_index)
        yield _counter("lithair_raft_leader_changes_seen_total", "Leader changes seen by this node.",
                       raft.leader_changes)
        yield _counter("lithair_raft_proposals_failed_total",
                       "Log entries Raft refused, lost or did not commit in time.",
                       proposer.failed_proposals)
        yield _gauge("lithair_raft_proposals_pending", "Client batches waiting on this node to commit.",
                     proposer.pending_proposals)
        duration = GaugeMetricFamily("lithair_snapshot_duration_seconds",
                                     "How long the last snapshot took to capture and write.")
        size = GaugeMetricFamily("lithair_snapshot_bytes", "Size of the last snapshot written.")
        if "write_ms" in raft.snapshot:  # none yet: no sample rather than a false zero
            duration.add_metric([], raft.snapshot["write_ms"] / 1000)
            size.add_metric([], raft.snapshot["bytes"])
        yield duration
        yield size

    def _ingest_and_state(self, stats: Mapping[str, Any]) -> Iterator[Metric]:
        readings = CounterMetricFamily("lithair_ingest_readings_total",
                                       "Readings stored through this node, by write endpoint.",
                                       labels=["endpoint"])
        for endpoint, count in self._ingest.readings_by_endpoint.items():
            readings.add_metric([endpoint], count)
        yield readings
        batches = CounterMetricFamily("lithair_ingest_batches_total",
                                      "Write requests to this node, by outcome.", labels=["result"])
        for result, count in self._ingest.batches_by_result.items():
            batches.add_metric([result], count)
        yield batches
        bodies = CounterMetricFamily(
            "lithair_ingest_json_bodies_total",
            "JSON batch bodies this node decoded, by decoder: typed (a reading shape learnt "
            "from an accepted body) or usual (any other body, invalid ones included).",
            labels=["decoder"])
        for decoder, count in self._ingest.json_bodies_by_decoder.items():
            bodies.add_metric([decoder], count)
        yield bodies
        yield _counter("lithair_ingest_duplicate_readings_total",
                       "Readings not stored because their (sensor, timestamp) was stored already.",
                       stats["duplicate_readings"])
        yield _gauge("lithair_state_readings", "Readings in the state.", stats["total_readings"])
        yield _gauge("lithair_state_sensors", "Sensors with at least one reading.",
                     stats["active_sensors"])


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=float(value))
