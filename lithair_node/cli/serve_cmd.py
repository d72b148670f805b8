"""`lithair serve`: run one node. Every flag has a LITHAIR_* environment variable."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from lithair_node.machine.commands import DEFAULT_CLUSTER_METRICS, DEFAULT_SENSOR_METRICS, MAX_METRIC_NAMES
from lithair_node.node.config import (
    MAX_COMPACTION_BYTES,
    MIB,
    ColdTierConfig,
    ConfigError,
    NodeConfig,
    RaftTuning,
    parse_host_port,
    read_secret_file,
    unsynced_writes_for_tests,
)
from lithair_node.node.raft.journal import Durability, JournalCorrupt


def _opt(*names: str, env: str, **kwargs: object):  # type: ignore[no-untyped-def]
    return click.option(*names, envvar=f"LITHAIR_{env}", show_envvar=True, **kwargs)


@click.command()
@_opt("--node-id", env="NODE_ID", help="This node's name (default: its Raft address).")
@_opt("--http", "http_address", env="HTTP", default="127.0.0.1:8001", help="HTTP host:port.")
@_opt("--raft", "raft_address", env="RAFT", default="127.0.0.1:9001",
      help="Raft host:port: the address peers dial, and this node's Raft identity.")
@_opt("--raft-bind-host", env="RAFT_BIND_HOST", help="Bind Raft here instead of the --raft host.")
@_opt("--peers", env="PEERS", default="", help="Other nodes' Raft addresses, comma separated.")
@_opt("--data-dir", env="DATA_DIR", type=click.Path(path_type=Path),
      help="Journal and snapshots (default: ./lithair-data/<node-id>).")
@_opt("--raft-password", env="RAFT_PASSWORD", help="Shared secret of the Raft port (required).")
@_opt("--raft-password-file", env="RAFT_PASSWORD_FILE", type=click.Path(dir_okay=False),
      help="Read the Raft password from this file.")
@_opt("--advertise-http", env="ADVERTISE_HTTP", help="URL clients should use for this node.")
@_opt("--token", env="TOKEN", help="Bearer token required by write/admin routes.")
@_opt("--token-file", env="TOKEN_FILE", type=click.Path(dir_okay=False),
      help="Read the write/admin token from this file.")
@_opt("--read-token", env="READ_TOKEN", help="If set, read routes need this (or the write) token.")
@_opt("--read-token-file", env="READ_TOKEN_FILE", type=click.Path(dir_okay=False),
      help="Read the read-only token from this file.")
@_opt("--tls-cert", env="TLS_CERT", type=click.Path(exists=True, dir_okay=False, path_type=Path),
      help="Serve HTTPS with this PEM certificate (needs --tls-key).")
@_opt("--tls-key", env="TLS_KEY", type=click.Path(exists=True, dir_okay=False, path_type=Path),
      help="PEM private key for --tls-cert.")
@_opt("--max-batch-readings", env="MAX_BATCH_READINGS", type=click.IntRange(1), default=10_000)
@_opt("--max-sensor-metrics", env="MAX_SENSOR_METRICS", type=click.IntRange(1, MAX_METRIC_NAMES),
      default=DEFAULT_SENSOR_METRICS, help="Metric names one sensor may hold (a write beyond: 422).")
@_opt("--max-cluster-metrics", env="MAX_CLUSTER_METRICS", type=click.IntRange(1, MAX_METRIC_NAMES),
      default=DEFAULT_CLUSTER_METRICS, help="Metric names the cluster may hold (a write beyond: 422).")
@_opt("--max-body-bytes", env="MAX_BODY_BYTES", type=click.IntRange(1024), default=8 * MIB)
@_opt("--commit-timeout", env="COMMIT_TIMEOUT", type=click.FloatRange(0.1), default=5.0,
      help="Seconds a write waits for its commit before answering 503 (outcome unknown).")
@_opt("--body-timeout", env="BODY_TIMEOUT", type=click.FloatRange(0.1), default=30.0,
      help="Seconds a client has to send its whole request body (then 408).")
@_opt("--idle-timeout", env="IDLE_TIMEOUT", type=click.FloatRange(1.0), default=75.0,
      help="Close keep-alive connections idle this long (seconds).")
@_opt("--max-queue-delay", env="MAX_QUEUE_DELAY", type=click.FloatRange(0.01), default=0.5,
      help="Refuse new writes (429) once the oldest waiting write has waited this long (s).")
@_opt("--max-pending-readings", env="MAX_PENDING_READINGS", type=click.IntRange(1),
      default=200_000, help="Readings waiting to commit on this node before 429.")
@_opt("--max-stream-clients", env="MAX_STREAM_CLIENTS", type=click.IntRange(1), default=32,
      help="Stream (Server-Sent Events) clients served at once before 503.")
@_opt("--stream-resume-bytes", env="STREAM_RESUME_BYTES", type=click.IntRange(0),
      default=16 * 1024 * 1024,
      help="Payload bytes of recent entries held for Last-Event-ID resumption (at most 4,096 "
           "entries); older ones are announced as a gap.")
@_opt("--lifecycle-tick", env="LIFECYCLE_TICK", type=click.FloatRange(0.1), default=5.0,
      help="While a lifecycle policy is set, the leader writes its clock into the log this "
           "often (s): retention and rollup expiry advance by these ticks.")
@_opt("--cold-url", env="COLD_URL",
      help="The cold tier: a directory, file:///dir or s3://bucket/prefix. The leader moves "
           "readings past a lifecycle rule's tier_after there as Parquet (same on every node).")
@_opt("--cold-s3-endpoint", env="COLD_S3_ENDPOINT", help="S3-compatible endpoint URL (MinIO...).")
@_opt("--cold-s3-access-key", env="COLD_S3_ACCESS_KEY", help="S3 access key of the cold tier.")
@_opt("--cold-s3-access-key-file", env="COLD_S3_ACCESS_KEY_FILE", type=click.Path(dir_okay=False),
      help="Read the S3 access key from this file.")
@_opt("--cold-s3-secret-key", env="COLD_S3_SECRET_KEY", help="S3 secret key of the cold tier.")
@_opt("--cold-s3-secret-key-file", env="COLD_S3_SECRET_KEY_FILE", type=click.Path(dir_okay=False),
      help="Read the S3 secret key from this file.")
@_opt("--cold-s3-region", env="COLD_S3_REGION", default="us-east-1", help="S3 region.")
@_opt("--snapshot-entries", env="SNAPSHOT_ENTRIES", type=click.IntRange(2),
      default=RaftTuning.compaction_min_entries, help="Snapshot after this many log entries.")
@_opt("--snapshot-bytes", env="SNAPSHOT_BYTES", type=click.IntRange(1024, MAX_COMPACTION_BYTES),
      default=RaftTuning.compaction_bytes,
      help="Snapshot after this many bytes of log entries (the journal file holds ~1.3x that).")
@_opt("--snapshot-interval", env="SNAPSHOT_INTERVAL", type=click.FloatRange(1.0),
      default=RaftTuning.compaction_interval_s, help="Snapshot at least this often (seconds).")
@_opt("--election-timeout", env="ELECTION_TIMEOUT", default="1.0-2.0",
      help="Raft election timeout range in seconds, MIN-MAX.")
@_opt("--leader-fallback-timeout", env="LEADER_FALLBACK_TIMEOUT", type=click.FloatRange(0.5),
      help="A leader that has not heard from a majority this long steps down "
           "(default: max(3, 1.5 x the election timeout's MAX)).")
@_opt("--lp-sensor-tag", env="LP_SENSOR_TAG", default="sensor_id",
      help="InfluxDB line protocol: the tag holding the sensor id (falls back to sensor_id, "
           "mote_id, device_id, host).")
@_opt("--durability", env="DURABILITY", type=click.Choice([str(d) for d in Durability]),
      default=str(Durability.FSYNC),
      help="fsync: a write is acknowledged once on disk on a majority (survives a power cut); "
           "none: never fsync'd (faster, survives kill -9 but not a power cut).")
@_opt("--segment-compaction/--no-segment-compaction", env="SEGMENT_COMPACTION", default=False,
      help="Merge sealed segments in the background: 1-2 B/reading less memory and faster "
           "reads of old data, for a second rewrite of every row (less ingest throughput).")
@_opt("--log-level", env="LOG_LEVEL", default="info",
      type=click.Choice(["debug", "info", "warning", "error"]))
def serve(**options: object) -> None:
    """Run one node (Raft replica + HTTP API) in the foreground."""
    logging.basicConfig(
        level=str(options["log_level"]).upper(),
        format="%(asctime)s %(levelname)s [%(name)s] %(message)s",
    )
    logging.getLogger("aiohttp.server").addFilter(_one_line_protocol_errors)
    try:
        config = config_from_options(options)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    from lithair_node.machine.snapshot_file import SnapshotError
    from lithair_node.node.raft.types import RaftBindError
    from lithair_node.node.server import serve as run

    try:
        run(config)
    except (RaftBindError, JournalCorrupt, SnapshotError) as exc:  # they name the port / file
        raise click.ClickException(str(exc)) from None
    except ConfigError as exc:  # found at start, e.g. a bad force-voters file
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the HTTP port in use, an unreadable data dir...
        raise click.ClickException(f"cannot start: {exc}") from None


def _one_line_protocol_errors(record: logging.LogRecord) -> bool:
    """aiohttp logs a full traceback for every malformed HTTP request (a client's fault):
    keep one warning line instead."""
    from aiohttp.http_exceptions import HttpProcessingError

    if record.exc_info and isinstance(record.exc_info[1], HttpProcessingError):
        record.msg = f"bad HTTP request: {record.exc_info[1]!s}"[:300]
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


def config_from_options(options: dict[str, object]) -> NodeConfig:
    http_host, http_port = parse_host_port(str(options["http_address"]), what="HTTP address")
    raft_address = str(options["raft_address"])
    parse_host_port(raft_address, what="Raft address")
    node_id = str(options.get("node_id") or raft_address)
    peers = tuple(p.strip() for p in str(options.get("peers") or "").split(",") if p.strip())
    data_dir = options.get("data_dir") or Path("lithair-data") / node_id.replace(":", "_")
    password = _secret(options, "raft_password", "raft_password_file")
    token = _secret(options, "token", "token_file")
    read_token = _secret(options, "read_token", "read_token_file")
    low, _, high = str(options["election_timeout"]).partition("-")
    try:
        election = (float(low), float(high or float(low) * 2))
    except ValueError:
        raise ConfigError("--election-timeout must look like 1.0-2.0") from None
    # PySyncObj asserts MIN > 3 heartbeats (0.3 s).
    if not 3 * RaftTuning.heartbeat_s < election[0] < election[1]:
        raise ConfigError(f"--election-timeout needs {3 * RaftTuning.heartbeat_s:g} < MIN < MAX")
    tuning = RaftTuning(
        election_min_s=election[0],
        election_max_s=election[1],
        connection_timeout_s=max(RaftTuning.connection_timeout_s, election[1] * 2),
        leader_fallback_s=float(options.get("leader_fallback_timeout")  # type: ignore[arg-type]
                                or max(RaftTuning.leader_fallback_s, election[1] * 1.5)),
        compaction_min_entries=int(options["snapshot_entries"]),  # type: ignore[call-overload]
        compaction_bytes=int(options["snapshot_bytes"]),  # type: ignore[call-overload]
        compaction_interval_s=float(options["snapshot_interval"]),  # type: ignore[arg-type]
    )
    max_body = int(options["max_body_bytes"])  # type: ignore[call-overload]
    if tuning.append_batch_bytes < 2 * max_body:
        tuning = RaftTuning(**{**vars(tuning), "append_batch_bytes": 4 * max_body})
    return NodeConfig(
        node_id=node_id,
        http_host=http_host,
        http_port=http_port,
        raft_address=raft_address,
        raft_bind_host=options.get("raft_bind_host") or None,  # type: ignore[arg-type]
        peers=peers,
        data_dir=Path(data_dir),  # type: ignore[arg-type]
        raft_password=password or "",
        advertise_http=options.get("advertise_http") or None,  # type: ignore[arg-type]
        auth_token=token,
        read_token=read_token,
        tls_cert=options.get("tls_cert") or None,  # type: ignore[arg-type]
        tls_key=options.get("tls_key") or None,  # type: ignore[arg-type]
        max_batch_readings=int(options["max_batch_readings"]),  # type: ignore[call-overload]
        max_sensor_metrics=int(options["max_sensor_metrics"]),  # type: ignore[call-overload]
        max_cluster_metrics=int(options["max_cluster_metrics"]),  # type: ignore[call-overload]
        max_body_bytes=max_body,
        commit_timeout_s=float(options["commit_timeout"]),  # type: ignore[arg-type]
        max_pending_readings=int(options["max_pending_readings"]),  # type: ignore[call-overload]
        max_queue_delay_s=float(options["max_queue_delay"]),  # type: ignore[arg-type]
        max_stream_clients=int(options["max_stream_clients"]),  # type: ignore[call-overload]
        stream_resume_bytes=int(options["stream_resume_bytes"]),  # type: ignore[call-overload]
        lifecycle_tick_s=float(options["lifecycle_tick"]),  # type: ignore[arg-type]
        cold=_cold_tier(options),
        body_timeout_s=float(options["body_timeout"]),  # type: ignore[arg-type]
        idle_timeout_s=float(options["idle_timeout"]),  # type: ignore[arg-type]
        raft=tuning,
        lp_sensor_tag=str(options.get("lp_sensor_tag") or "sensor_id"),
        durability=Durability(str(options["durability"])),
        segment_compaction=bool(options.get("segment_compaction")),
        unsynced_writes_for_tests=unsynced_writes_for_tests(os.environ),
    )


def _cold_tier(options: dict[str, object]) -> ColdTierConfig | None:
    url = options.get("cold_url")
    access = _secret(options, "cold_s3_access_key", "cold_s3_access_key_file")
    secret = _secret(options, "cold_s3_secret_key", "cold_s3_secret_key_file")
    if not url:
        if access or secret or options.get("cold_s3_endpoint"):
            raise ConfigError("the --cold-s3-* options need --cold-url")
        return None
    return ColdTierConfig(str(url), options.get("cold_s3_endpoint") or None,  # type: ignore[arg-type]
                          access, secret, str(options.get("cold_s3_region") or "us-east-1"))


def _secret(options: dict[str, object], value_key: str, file_key: str) -> str | None:
    value = options.get(value_key)
    path = options.get(file_key)
    if value and path:
        raise ConfigError(f"give --{value_key.replace('_', '-')} or --{file_key.replace('_', '-')}, not both")
    if path:
        return read_secret_file(str(path))
    return str(value) if value else None
