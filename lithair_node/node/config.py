"""Node configuration: one frozen object, built at the edge (CLI flags / LITHAIR_* env vars)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from lithair_node.machine.commands import (
    DEFAULT_CLUSTER_METRICS,
    DEFAULT_SENSOR_METRICS,
    MAX_METRIC_NAMES,
    MetricLimits,
)
from lithair_node.node.raft.journal.journal import Durability

MIB = 1024 * 1024
MAX_COMPACTION_BYTES = 1024 * MIB
# A data dir's layout (also written by node/raft/seed.py for `lithair restore`).
JOURNAL_DIR = "journal"
SNAPSHOT_FILE = "snapshot.lsnap"


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message says which and why."""


@dataclass(frozen=True)
class RaftTuning:
    """PySyncObj timing and sizing. Defaults measured on a 2-core box (see DESIGN.md)."""

    # Election timeout range. 0.4/1.4 s (PySyncObj's default) gave spurious elections with a
    # CPU-bound leader on 2 cores; 1.0/2.0 s was stable.
    election_min_s: float = 1.0
    election_max_s: float = 2.0
    # Heartbeat period. Entries themselves are sent at once (appendEntriesUseBatch=False).
    heartbeat_s: float = 0.1
    # Drop a peer connection that has been silent this long.
    connection_timeout_s: float = 4.0
    # Redial a peer this often. PySyncObj's 5 s default delayed the first leader of a
    # fresh cluster and every rejoin after a restart by up to 5 s.
    reconnect_s: float = 0.5
    # A leader that has not heard from a majority for this long steps down. PySyncObj's
    # default (30 s) lets a partitioned leader believe it leads far too long.
    leader_fallback_s: float = 3.0
    # Peer host names are re-resolved this often (a failed lookup: retried this soon).
    # PySyncObj's 600 s / 30 s would keep a restarted container's old address, or ignore a
    # peer whose name did not resolve yet (stopped container), for minutes.
    dns_cache_s: float = 5.0
    dns_fail_cache_s: float = 1.0
    # Must exceed the largest entry we append (max batch bytes after encoding, plus group
    # commit): an entry above it is split into a slow chunked transfer.
    append_batch_bytes: int = 32 * MIB
    socket_buffer_bytes: int = 4 * MIB
    # Snapshot (log compaction) triggers: whichever comes first. The journal keeps every
    # entry since the last snapshot in memory (and on disk), so the byte trigger bounds the
    # Raft log's share of RSS: ~50-70 bytes of log per reading, so 64 MiB held, with the
    # +25% stagger, up to 80 MB (8 B/reading at 10M) on one node. Each snapshot rewrites
    # the hot buffer, so a lower trigger costs ingest throughput (measured at 3M readings,
    # batch 1000: 16 MiB -25%, 32 MiB -12% against 64); 32 MiB keeps every node within
    # issue 11's 24 B/reading at 10M (bench/results/memory-20261201T18*.json).
    compaction_min_entries: int = 20_000
    compaction_bytes: int = 32 * MIB
    compaction_interval_s: float = 600.0
    # Chunk size used to ship a snapshot to a lagging follower.
    snapshot_chunk_bytes: int = 4 * MIB


@dataclass(frozen=True)
class ColdTierConfig:
    """Where the leader moves readings past a rule's tier_after (node/coldtier/). Every node
    needs the same URL: any node may answer a read that reaches into the cold tier."""

    url: str  # a path, file:///path or s3://bucket[/prefix]
    s3_endpoint: str | None = None  # e.g. http://127.0.0.1:9000 (MinIO, moto); None: AWS
    s3_access_key: str | None = field(default=None, repr=False)
    s3_secret_key: str | None = field(default=None, repr=False)
    s3_region: str = "us-east-1"

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("", "file", "s3") or (parts.scheme == "s3" and not parts.netloc):
            raise ConfigError(f"--cold-url {self.url!r}: expected a path, file:///path or "
                              "s3://bucket[/prefix]")


@dataclass(frozen=True)
class NodeConfig:
    node_id: str
    http_host: str
    http_port: int
    raft_address: str  # host:port that peers dial; also this node's Raft identity
    peers: tuple[str, ...]
    data_dir: Path
    raft_password: str = field(repr=False)
    raft_bind_host: str | None = None  # defaults to the host of raft_address
    advertise_http: str | None = None  # URL peers and clients should use for this node
    auth_token: str | None = field(default=None, repr=False)
    read_token: str | None = field(default=None, repr=False)
    max_batch_readings: int = 10_000
    # Metric names one sensor, and the whole cluster, may hold (a write beyond: 422). Each
    # entry carries the receiving node's values, so apply decides the same on every node.
    max_sensor_metrics: int = DEFAULT_SENSOR_METRICS
    max_cluster_metrics: int = DEFAULT_CLUSTER_METRICS
    max_body_bytes: int = 8 * MIB
    commit_timeout_s: float = 5.0
    # Backpressure: readings accepted by this node's HTTP layer but not yet committed.
    max_pending_readings: int = 200_000
    # ... or once the oldest waiting write has waited this long (bounds accepted latency).
    max_queue_delay_s: float = 0.5
    max_stream_clients: int = 32  # GET /api/v1/stream clients at once; past it, 503
    # Entry payload bytes the stream hub holds for resumption: 16 MiB, not 64, because the
    # ring is resident on every node whether anyone streams or not (~6 B/reading at 10M).
    stream_resume_bytes: int = 16 * 1024 * 1024
    # The leader's lifecycle clock entry ("tick") period, while a lifecycle policy is set.
    lifecycle_tick_s: float = 5.0
    cold: ColdTierConfig | None = None  # None: no cold tier (a tier_after rule is refused)
    # HTTPS when both are set (PEM files).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # A client must send its whole body within this time (slow-client bound).
    body_timeout_s: float = 30.0
    # Close keep-alive connections idle for this long.
    idle_timeout_s: float = 75.0
    raft: RaftTuning = field(default_factory=RaftTuning)
    # The line-protocol tag holding the sensor id (then sensor_id, mote_id, device_id, host).
    lp_sensor_tag: str = "sensor_id"
    # fsync: an entry counts (commit, acknowledgement) only once on disk; none: never synced.
    durability: Durability = Durability.FSYNC
    # Merge sealed segments in the background (machine/engine/compaction.py): 1-2 B/reading
    # less memory and faster sealed reads, for a second rewrite of every row (ingest -30%
    # on a 2-core box: bench/results/memory-20261201T224100Z.json). Not replicated state.
    segment_compaction: bool = False
    # Test-only (LITHAIR_TEST_UNSYNCED_WRITES, see node/raft/node_io.py): never a CLI option.
    unsynced_writes_for_tests: str | None = None

    def __post_init__(self) -> None:
        if not self.node_id or len(self.node_id) > 64:
            raise ConfigError("node id must be 1-64 characters")
        if not self.raft_password:
            raise ConfigError(
                "a Raft password is required (--raft-password, --raft-password-file or "
                "LITHAIR_RAFT_PASSWORD): without one PySyncObj unpickles anything it is sent"
            )
        parse_host_port(self.raft_address, what="Raft address")
        for peer in self.peers:
            parse_host_port(peer, what="peer address")
        if self.raft_address in self.peers:
            raise ConfigError(f"peers must not include this node's own address {self.raft_address}")
        if not 1 <= self.http_port <= 65535:
            raise ConfigError(f"HTTP port {self.http_port} out of range")
        if self.max_batch_readings < 1:
            raise ConfigError("max batch readings must be >= 1")
        if not 1 <= self.max_sensor_metrics <= self.max_cluster_metrics <= MAX_METRIC_NAMES:
            raise ConfigError(f"metric limits must satisfy 1 <= max sensor metrics <= max "
                              f"cluster metrics <= {MAX_METRIC_NAMES}")
        if self.max_body_bytes < 1024:
            raise ConfigError("max body bytes must be >= 1024")
        if self.commit_timeout_s <= 0:
            raise ConfigError("commit timeout must be > 0")
        if self.lifecycle_tick_s <= 0:
            raise ConfigError("lifecycle tick must be > 0")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("HTTPS needs both --tls-cert and --tls-key")
        if not self.lp_sensor_tag:
            raise ConfigError("the line-protocol sensor tag must not be empty")
        # PySyncObj's journal records offsets as 4-byte ints and its file grows by doubling:
        # keep what accumulates between snapshots far below 4 GiB.
        if not 1024 <= self.raft.compaction_bytes <= MAX_COMPACTION_BYTES:
            raise ConfigError(f"snapshot bytes must be between 1 KiB and {MAX_COMPACTION_BYTES // MIB} "
                              "MiB (PySyncObj's journal cannot exceed 4 GiB)")
        # The largest entry group commit can build must fit in one append message.
        if self.raft.append_batch_bytes < 2 * self.max_body_bytes:
            raise ConfigError("Raft append batch size must be at least twice the max body size")

    @property
    def http_url(self) -> str:
        if self.advertise_http:
            return self.advertise_http.rstrip("/")
        host = self.http_host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{host}:{self.http_port}"

    @property
    def metric_limits(self) -> MetricLimits:
        return MetricLimits(self.max_sensor_metrics, self.max_cluster_metrics)

    @property
    def raft_bind(self) -> str:
        host, port = parse_host_port(self.raft_address, what="Raft address")
        return f"{self.raft_bind_host or host}:{port}"

    @property
    def journal_dir(self) -> Path:
        return self.data_dir / JOURNAL_DIR

    @property
    def legacy_journal_path(self) -> Path:
        """PySyncObj's journal, written by earlier versions (node/raft/legacy_journal.py)."""
        return self.data_dir / "raft.journal"

    @property
    def snapshot_path(self) -> Path:
        return self.data_dir / SNAPSHOT_FILE


UNSYNCED_WRITES_BUFFER = "buffer"
TESTING_ENV = "LITHAIR_TESTING"
UNSYNCED_WRITES_ENV = "LITHAIR_TEST_UNSYNCED_WRITES"


def unsynced_writes_for_tests(environ: Mapping[str, str]) -> str | None:
    """The test-only I/O mode of the environment, refused outside tests: a node in it loses
    its unsynced writes on any kill, on purpose (power-cut tests with real processes)."""
    mode = environ.get(UNSYNCED_WRITES_ENV) or None
    if mode is None:
        return None
    if mode != UNSYNCED_WRITES_BUFFER:
        raise ConfigError(f"{UNSYNCED_WRITES_ENV} must be {UNSYNCED_WRITES_BUFFER!r}")
    if environ.get(TESTING_ENV) != "1":
        raise ConfigError(f"{UNSYNCED_WRITES_ENV} is for tests only (it needs {TESTING_ENV}=1)")
    return mode


def parse_host_port(value: str, *, what: str) -> tuple[str, int]:
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(f"{what} {value!r} must look like host:port")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ConfigError(f"{what} {value!r}: port out of range")
    return host.strip("[]"), port


def read_secret_file(path: str | os.PathLike[str]) -> str:
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from exc
    if not secret:
        raise ConfigError(f"secret file {path} is empty")
    return secret
