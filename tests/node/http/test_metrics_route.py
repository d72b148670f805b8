"""GET /metrics on a live 3-node cluster: prometheus_client's parser reads it, promtool finds
nothing to fix, and a real Prometheus server (Debian's) scrapes all three nodes."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lithair_node.client.cluster_client import ACKED, ClusterClient
from lithair_node.lab.local_cluster import LocalCluster, free_ports
from tests.http_helpers import get, post_json, request, wait_for

RAFT_METRICS = ("lithair_raft_has_leader", "lithair_raft_is_leader", "lithair_raft_term",
                "lithair_raft_commit_index", "lithair_raft_applied_index",
                "lithair_raft_leader_changes_seen_total", "lithair_raft_proposals_failed_total",
                "lithair_raft_proposals_pending")


def scrape_text(url: str, headers: dict[str, str] | None = None) -> str:
    answer = request("GET", f"{url}/metrics", headers=headers)
    assert answer.status == 200, answer
    assert isinstance(answer.body, bytes)  # text, not JSON
    return answer.body.decode()


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(scrape_text(url)) for s in family.samples}


def test_a_scrape_parses_with_raft_metrics_and_one_leader(cluster) -> None:
    def one_leader() -> bool:
        return sum(samples(url)["lithair_raft_is_leader", ()] for url in cluster.urls) == 1

    wait_for(one_leader, what="lithair_raft_is_leader summing to 1")
    for url in cluster.urls:
        scraped = samples(url)
        for name in RAFT_METRICS:
            assert (name, ()) in scraped, name
        assert scraped["lithair_raft_has_leader", ()] == 1
        assert scraped["process_resident_memory_bytes", ()] > 0


def test_http_requests_are_counted_by_route_template_and_writes_by_endpoint(cluster) -> None:
    url = cluster.urls[1]
    assert get(f"{url}/api/v1/sensors/metrics-raw-id/latest").status == 404
    assert get(f"{url}/no/such/route").status == 404
    reading = {"sensor_id": "metrics-w", "timestamp": 1, "temperature": 1.0}
    assert post_json(url, {"readings": [reading, {**reading, "timestamp": 2}]}).status == 200
    text = scrape_text(url)
    assert "metrics-raw-id" not in text and "/no/such/route" not in text
    scraped = samples(url)
    latest = (("route", "/api/v1/sensors/{sensor_id}/latest"), ("status", "404"))
    assert scraped["lithair_http_request_duration_seconds_count", latest] >= 1
    unmatched = (("route", "unmatched"), ("status", "404"))
    assert scraped["lithair_http_request_duration_seconds_count", unmatched] >= 1
    assert scraped["lithair_ingest_readings_total", (("endpoint", "batches"),)] >= 2
    assert scraped["lithair_ingest_batches_total", (("result", "accepted"),)] >= 1
    assert post_json(url, {"readings": [{"sensor_id": "metrics-w"}]}).status == 422
    assert samples(url)["lithair_ingest_batches_total", (("result", "invalid"),)] >= 1


def json_bodies(url: str) -> tuple[float, float]:
    """(typed, usual): the JSON batch bodies the node at `url` decoded, by decoder."""
    scraped = samples(url)
    return (scraped["lithair_ingest_json_bodies_total", (("decoder", "typed"),)],
            scraped["lithair_ingest_json_bodies_total", (("decoder", "usual"),)])


def test_json_bodies_are_counted_by_the_decoder_that_took_them(cluster) -> None:
    url = cluster.urls[2]
    typed, usual = json_bodies(url)
    # A metric no other test sends: a shape this node has not accepted yet.
    reading = {"sensor_id": "decoder-probe", "timestamp": 10, "decoder_probe": 1.5}
    assert post_json(url, {"readings": [reading]}).status == 200
    assert json_bodies(url) == (typed, usual + 1)  # learnt from it
    assert post_json(url, {"readings": [{**reading, "timestamp": 11}]}).status == 200
    assert json_bodies(url) == (typed + 1, usual + 1)
    # A body of that shape it cannot prove valid (a null) takes the usual path, which refuses it.
    assert post_json(url, {"readings": [{**reading, "decoder_probe": None}]}).status == 422
    assert json_bodies(url) == (typed + 1, usual + 2)


def test_cluster_client_bodies_take_the_typed_decoder(cluster) -> None:
    # ClusterClient sends JSON by default: a node learns the shape from the first batch and
    # decodes the next ones in its typed pass (msgpack bodies always took the usual one).
    url = cluster.urls[1]
    typed, usual = json_bodies(url)
    readings = [{"sensor_id": f"client-probe-{i}", "timestamp": 100 + i, "client_probe": i / 4}
                for i in range(20)]

    async def send() -> None:
        async with ClusterClient([url]) as client:
            for n in range(3):
                batch = [{**r, "timestamp": r["timestamp"] + 1000 * n} for r in readings]
                result = await client.post_batch(batch, url=url)
                assert result.status == ACKED and len(result.trail) == 1, result.history

    asyncio.run(send())
    assert json_bodies(url) == (typed + 2, usual + 1)


def test_promtool_finds_nothing_to_fix_in_a_live_scrape(cluster) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: scripts/install-debian-test-packages.sh"
    checked = subprocess.run([promtool, "check", "metrics"], input=scrape_text(cluster.urls[0]).encode(),
                             capture_output=True, timeout=60, check=False)
    assert checked.returncode == 0 and not checked.stdout.strip() and not checked.stderr.strip(), (
        checked.stdout + checked.stderr).decode()


@pytest.fixture
def prometheus(cluster, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus server scraping the three nodes every second; yields its URL."""
    binary = shutil.which("prometheus")
    assert binary is not None, "prometheus is missing: scripts/install-debian-test-packages.sh"
    targets = [urllib.parse.urlsplit(url).netloc for url in cluster.urls]
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "lithair", "static_configs": [{"targets": targets}]}],
    }))
    (port,) = free_ports(1)
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def query(prometheus_url: str, expression: str) -> list[dict]:
    answer = get(f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expression}))
    if answer.status != 200 or answer.body["status"] != "success":
        return []
    return answer.body["data"]["result"]


def test_a_real_prometheus_scrapes_every_node(prometheus: str, cluster) -> None:
    def all_up() -> bool:
        results = query(prometheus, "up")
        return len(results) == 3 and all(r["value"][1] == "1" for r in results)

    def one_leader() -> bool:
        results = query(prometheus, "sum(lithair_raft_is_leader)")
        return len(results) == 1 and results[0]["value"][1] == "1"

    wait_for(lambda: _answers(f"{prometheus}/-/ready"), timeout_s=60, what="Prometheus ready")
    wait_for(all_up, timeout_s=60, what="up == 1 for the three nodes")
    wait_for(one_leader, timeout_s=30, what="sum(lithair_raft_is_leader) == 1")
    instances = {r["metric"]["instance"] for r in query(prometheus, "lithair_raft_term")}
    assert instances == {urllib.parse.urlsplit(url).netloc for url in cluster.urls}


def _answers(url: str) -> bool:
    try:
        return request("GET", url, timeout_s=2).status == 200
    except OSError:
        return False


def test_metrics_need_a_token_when_a_read_token_is_set(tmp_path: Path) -> None:
    # Not start_cluster: its readiness check reads /cluster/status, which now needs the token.
    running = LocalCluster(tmp_path, nodes=1, extra_args=("--token", "w", "--read-token", "r")).start()
    try:
        url = running.urls[0]
        wait_for(lambda: _answers(f"{url}/readyz"), what="the guarded node ready")
        assert request("GET", f"{url}/metrics").status == 401
        assert "lithair_raft_is_leader" in scrape_text(url, {"Authorization": "Bearer r"})
        assert get(f"{url}/health").status == 200
    finally:
        running.stop()
