"""cluster/grafana-dashboard.json: valid JSON, every query valid PromQL (promtool parses it as
a recording rule), and every metric it names exported by the node's /metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from lithair_node.node.metrics import INGEST_ENDPOINTS, NodeMetrics, ProposerFigures
from lithair_node.node.raft.types import RaftStatus

DASHBOARD = Path(__file__).resolve().parents[2] / "cluster" / "grafana-dashboard.json"
METRIC_NAME = re.compile(r"\b(?:lithair|process)_[a-z0-9_]+")
# Grafana's own variables, as Grafana would substitute them.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s"}


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert found, "the dashboard has no queries"
    return found


def exported_sample_names() -> set[str]:
    """Every sample name a node's scrape holds, with a snapshot taken and one of each event."""
    status = RaftStatus(role="leader", leader="a:1", term=2, commit_index=5, applied_index=5,
                        leader_commit_index=5, log_length=6, has_quorum=True, peers=(), leader_changes=1,
                        last_leader_change_s=None, snapshot={"write_ms": 1.0, "bytes": 10, "count": 1})
    metrics = NodeMetrics(raft_status=lambda: status,
                          state_stats=lambda: {"total_readings": 1, "active_sensors": 1,
                                               "duplicate_readings": 0},
                          proposer=lambda: ProposerFigures(0, 0))
    for endpoint in INGEST_ENDPOINTS:
        metrics.ingest.record(endpoint, "accepted", readings=1)
    metrics.observe("/api/v1/batches", 200, 0.01)
    text = metrics.exposition().decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def test_every_metric_the_dashboard_names_is_exported() -> None:
    exported = exported_sample_names()
    for expression in expressions():
        names = set(METRIC_NAME.findall(expression))
        assert names, f"no metric in {expression!r}"
        assert names <= exported, f"{expression!r} names {sorted(names - exported)}, not exported"


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: scripts/install-debian-test-packages.sh"
    rules = []
    for number, expression in enumerate(expressions()):
        for variable, value in GRAFANA_VARIABLES.items():
            expression = expression.replace(variable, value)
        rules.append({"record": f"dashboard:query_{number}", "expr": expression})
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))  # JSON is YAML
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True,
                             timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout, checked.stdout
