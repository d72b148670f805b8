"""--max-sensor-metrics / --max-cluster-metrics (LITHAIR_*): built into NodeConfig at the
edge, refused when inconsistent, and written by the proposer into every entry."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest

from lithair_node.cli.serve_cmd import config_from_options, serve
from lithair_node.machine.commands import MetricLimits, encode_ingest, make_encoded_batch
from lithair_node.node.config import ConfigError
from tests.machine.engine.builders import make_columns


def _config(tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    base = ["--data-dir", str(tmp_path), "--raft-password", "pw"]
    return config_from_options(serve.make_context("serve", [*base, *args]).params)


def test_defaults_flags_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _config(tmp_path).metric_limits == MetricLimits(256, 10_000)
    assert _config(tmp_path, "--max-sensor-metrics", "8").metric_limits == MetricLimits(8, 10_000)
    monkeypatch.setenv("LITHAIR_MAX_CLUSTER_METRICS", "500")
    assert _config(tmp_path).metric_limits == MetricLimits(256, 500)


def test_inconsistent_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max sensor metrics <= max cluster metrics"):
        _config(tmp_path, "--max-sensor-metrics", "600", "--max-cluster-metrics", "500")
    with pytest.raises(Exception, match="65535"):
        _config(tmp_path, "--max-cluster-metrics", "70000")


def test_the_entry_carries_the_limits_in_every_batch_item() -> None:
    columns = make_columns([("s", 1, {"t": 1.0}, None)])
    batch = make_encoded_batch(columns, "k", 1)
    _, _, items = msgpack.unpackb(encode_ingest([batch, batch], MetricLimits(7, 70)))
    assert [item[3] for item in items] == [[7, 70], [7, 70]]
    _, _, old = msgpack.unpackb(encode_ingest([batch]))
    assert len(old[0]) == 3
