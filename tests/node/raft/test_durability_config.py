"""--durability and the test-only I/O mode, at the edge where the config is built."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lithair_node.cli.serve_cmd import serve
from lithair_node.node.config import (
    TESTING_ENV,
    UNSYNCED_WRITES_BUFFER,
    UNSYNCED_WRITES_ENV,
    ConfigError,
    unsynced_writes_for_tests,
)


def test_the_unsynced_write_mode_is_refused_outside_tests() -> None:
    assert unsynced_writes_for_tests({}) is None
    with pytest.raises(ConfigError, match="for tests only"):
        unsynced_writes_for_tests({UNSYNCED_WRITES_ENV: UNSYNCED_WRITES_BUFFER})
    with pytest.raises(ConfigError, match="must be"):
        unsynced_writes_for_tests({UNSYNCED_WRITES_ENV: "yes", TESTING_ENV: "1"})
    assert unsynced_writes_for_tests(
        {UNSYNCED_WRITES_ENV: UNSYNCED_WRITES_BUFFER, TESTING_ENV: "1"}) == UNSYNCED_WRITES_BUFFER


def test_serve_refuses_the_test_mode_and_an_unknown_durability(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--data-dir", str(tmp_path), "--raft-password", "pw"]
    refused = runner.invoke(serve, args, env={UNSYNCED_WRITES_ENV: UNSYNCED_WRITES_BUFFER,
                                              TESTING_ENV: ""})
    assert refused.exit_code == 2 and "for tests only" in refused.output
    unknown = runner.invoke(serve, [*args, "--durability", "sometimes"])
    assert unknown.exit_code == 2 and "fsync" in unknown.output
    assert "--durability [fsync|none]" in runner.invoke(serve, ["--help"]).output
