"""`lithair lifecycle set FILE.toml | show` against a real node."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lithair_node.lab.local_cluster import LocalCluster
from tests.cluster_fixtures import start_cluster
from tests.http_helpers import get

POLICY_TOML = """
[[rules]]
match = { location = "lab", metric = "temperature" }
raw = "7d"
tier_after = "1d"
rollups = [ { every = "1d", keep = "forever" }, { every = "1h", keep = "90d" } ]

[[rules]]
raw = "30d"
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    base = tmp_path_factory.mktemp("lifecycle-cli")
    # tier_after needs a cold tier (a rule with one is refused without it)
    running = start_cluster(base, nodes=1,
                            extra_args=("--token", "w-secret", "--cold-url", str(base / "cold")))
    yield running
    running.stop()


def lithair(*args: str, token: str | None = "w-secret") -> subprocess.CompletedProcess[str]:
    env_token = ("--token", token) if token else ()
    return subprocess.run([sys.executable, "-m", "lithair_node", "lifecycle", *args, *env_token],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})


def test_set_then_show(node: LocalCluster, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY_TOML)
    done = lithair("set", str(policy), "--node", node.urls[0], "--json")
    assert done.returncode == 0, done.stderr
    rules = json.loads(done.stdout)["rules"]
    assert [r["raw"] for r in rules] == ["7d", "30d"]
    assert [r["every"] for r in rules[0]["rollups"]] == ["1h", "1d"]  # kept sorted by width
    assert get(f"{node.urls[0]}/api/v1/settings/lifecycle").body["rules"] == rules
    shown = lithair("show", "--node", node.urls[0])
    assert shown.returncode == 0, shown.stderr
    assert "1. location=lab, metric=temperature: raw 7d; rollups 1h for 90d, 1d for forever; " \
           "tier after 1d" in shown.stdout
    assert "2. everything: raw 30d; rollups none" in shown.stdout


def test_a_bad_file_is_refused_before_it_is_sent(node: LocalCluster, tmp_path: Path) -> None:
    before = get(f"{node.urls[0]}/api/v1/settings/lifecycle").body
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nraw = "a week"\n')
    done = lithair("set", str(bad), "--node", node.urls[0])
    assert done.returncode == 2 and "rules[0].raw must be a duration" in done.stderr
    bad.write_text("[[rules]\n")
    assert "not TOML" in lithair("set", str(bad), "--node", node.urls[0]).stderr
    after = get(f"{node.urls[0]}/api/v1/settings/lifecycle").body
    assert after["rules"] == before["rules"]


def test_without_the_token_the_node_refuses(node: LocalCluster, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY_TOML)
    done = lithair("set", str(policy), "--node", node.urls[0], "--data-dir", str(tmp_path),
                   token=None)
    assert done.returncode == 1 and "401" in done.stderr
