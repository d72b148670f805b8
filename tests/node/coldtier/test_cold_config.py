"""`lithair serve`'s cold-tier options: URL, S3 endpoint and keys (values or files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lithair_node.cli.serve_cmd import config_from_options, serve
from lithair_node.node.config import ColdTierConfig, ConfigError

BASE = {"http_address": "127.0.0.1:8001", "raft_address": "127.0.0.1:9001",
        "raft_password": "pw", "election_timeout": "1.0-2.0", "snapshot_entries": 100,
        "snapshot_bytes": 1 << 20, "snapshot_interval": 60.0, "max_body_bytes": 1 << 20,
        "max_batch_readings": 10, "max_sensor_metrics": 8, "max_cluster_metrics": 8,
        "commit_timeout": 5.0, "max_pending_readings": 10, "max_queue_delay": 0.5,
        "max_stream_clients": 2, "stream_resume_bytes": 1 << 20, "lifecycle_tick": 5.0, "body_timeout": 30.0,
        "idle_timeout": 75.0, "durability": "fsync"}


def test_no_url_no_tier_and_s3_options_alone_are_refused() -> None:
    assert config_from_options(dict(BASE)).cold is None
    with pytest.raises(ConfigError, match="need --cold-url"):
        config_from_options({**BASE, "cold_s3_endpoint": "http://127.0.0.1:9000"})


def test_keys_from_files_and_kept_out_of_repr(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    cold = config_from_options({**BASE, "cold_url": "s3://bucket/prefix",
                                "cold_s3_endpoint": "http://127.0.0.1:9000",
                                "cold_s3_access_key": "AK", "cold_s3_secret_key_file": str(secret)}).cold
    assert cold == ColdTierConfig("s3://bucket/prefix", "http://127.0.0.1:9000", "AK", "s3cr3t")
    assert "s3cr3t" not in repr(cold) and "AK" not in repr(cold)


@pytest.mark.parametrize("url", ["s3://", "gs://bucket/x", "http://host/x"])
def test_a_bad_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="--cold-url"):
        config_from_options({**BASE, "cold_url": url})


def test_the_environment_names() -> None:
    help_text = CliRunner().invoke(serve, ["--help"], terminal_width=200).output
    for name in ("LITHAIR_COLD_URL", "LITHAIR_COLD_S3_ENDPOINT", "LITHAIR_COLD_S3_ACCESS_KEY",
                 "LITHAIR_COLD_S3_SECRET_KEY", "LITHAIR_COLD_S3_SECRET_KEY_FILE"):
        assert name in help_text
