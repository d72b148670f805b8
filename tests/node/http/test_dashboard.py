"""The dashboard in a real browser: Debian's chromium driven by Playwright against a real
3-node cluster. The page is opened on a follower, so that it survives the leader's kill -9."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lithair_node import api
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.polling import wait_until
from tests.cluster_fixtures import start_cluster
from tests.http_helpers import get, post_json

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")

SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "dashboard.png"
SHOWN_WITHIN_MS = 2000


@pytest.fixture(scope="module")
def dash_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path_factory.mktemp("dashboard"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def served_by(dash_cluster: LocalCluster) -> int:
    leader = leader_of(dash_cluster)
    assert leader is not None
    return (leader + 1) % 3


@pytest.fixture(scope="module")
def console_errors() -> list[str]:
    return []


@pytest.fixture(scope="module")
def page(dash_cluster: LocalCluster, served_by: int, console_errors: list[str]) -> Iterator[object]:
    history(dash_cluster)
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda error: console_errors.append(str(error)))
            tab.goto(dash_cluster.urls[served_by] + "/")
            yield tab
        finally:
            browser.close()


def leader_of(cluster: LocalCluster, among: range | list[int] = range(3)) -> int | None:
    """The node that says it leads (urllib: Playwright's sync API owns this thread's loop,
    so the lab's asyncio-based pollers cannot run here)."""
    for index in among:
        try:
            if get(cluster.urls[index] + api.CLUSTER_STATUS, timeout_s=2).body["role"] == "leader":
                return index
        except OSError:
            continue
    return None


def history(cluster: LocalCluster) -> None:
    """A few sensors with an hour of readings each, and one anomaly, for the charts."""
    start = 1_795_600_000
    for sensor, location, base in (("greenhouse-1", "north", 21.0), ("greenhouse-2", "north", 19.0),
                                   ("cellar", "south", 12.0)):
        readings = [{"sensor_id": sensor, "timestamp": start + 60 * i, "location": location,
                     "temperature": base + (i % 12) * 0.3 + (25.0 if i == 50 else 0.0),
                     "humidity": 50.0 + (i % 7)} for i in range(60)]
        assert post_json(cluster.urls[0], {"readings": readings}).status == 200


def test_shows_three_nodes_and_one_leader(page, dash_cluster: LocalCluster, console_errors) -> None:
    expect = playwright_api.expect
    expect(page.locator("#cluster-table tbody tr")).to_have_count(3, timeout=10_000)
    index = leader_of(dash_cluster)
    assert index is not None
    leader = dash_cluster.specs[index].node_id
    expect(page.locator("#cluster-table tr[data-role=leader]")).to_have_count(1)
    expect(page.locator("#cluster-table tr[data-role=leader]")).to_have_attribute("data-node", leader)
    expect(page.locator("#cluster-table tr[data-role=follower]")).to_have_count(2)
    expect(page.locator("#stream-state")).to_have_text("live", timeout=10_000)
    assert console_errors == []


def test_a_posted_batch_shows_in_the_table_and_live_chart(page, dash_cluster: LocalCluster,
                                                          console_errors) -> None:
    expect = playwright_api.expect
    expect(page.locator("#stream-state")).to_have_text("live", timeout=10_000)
    answer = post_json(dash_cluster.urls[0], {"readings": [
        {"sensor_id": "dash-live-1", "timestamp": time.time(), "location": "roof",
         "temperature": 21.5, "humidity": 48.25}]})
    assert answer.status == 200
    row = page.locator('#sensor-table tr[data-sensor="dash-live-1"]')
    expect(row).to_contain_text("temperature 21.5", timeout=SHOWN_WITHIN_MS)
    expect(row).to_contain_text("roof")
    expect(page.locator("#live-chart")).to_have_attribute(
        "data-summary", re.compile(r'"name":"dash-live-1","points":1'), timeout=SHOWN_WITHIN_MS)
    page.fill("#sensor-search", "greenhouse")
    expect(page.locator("#sensor-table tbody tr")).to_have_count(2)
    page.fill("#sensor-search", "")
    # The ingest chart has points by now (one a second), the screenshot shows them all.
    expect(page.locator("#ingest-readings")).to_have_attribute(
        "data-summary", re.compile(r'"points":[1-9]'), timeout=5_000)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert console_errors == []


def test_sensor_page_charts_aggregates_with_anomaly_markers(page, console_errors) -> None:
    expect = playwright_api.expect
    page.goto(page.url.split("#")[0] + "#sensor=greenhouse-1")
    expect(page.locator("#sensor-stats tbody tr")).to_have_count(2, timeout=5_000)
    page.select_option("#sensor-metric", "temperature")
    expect(page.locator("#sensor-chart")).to_have_attribute(
        "data-summary", re.compile(r'"name":"temperature mean","points":[1-9]'), timeout=5_000)
    expect(page.locator("#sensor-range")).to_contain_text("1 anomalies")
    box = page.locator("#sensor-chart").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 50)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 50, steps=5)
    page.mouse.up()
    # Zoomed in: finer buckets than the whole hour's.
    expect(page.locator("#sensor-range")).not_to_contain_text("buckets of 4", timeout=5_000)
    page.goto(page.url.split("#")[0] + "#cluster")
    assert console_errors == []


def test_after_kill_9_of_the_leader_the_page_shows_the_new_one(page, dash_cluster: LocalCluster,
                                                               served_by: int, console_errors) -> None:
    expect = playwright_api.expect
    old = leader_of(dash_cluster)
    assert old is not None and old != served_by
    dash_cluster.kill_node(old)
    survivors = [i for i in range(3) if i != old]
    # Polled with urllib between Playwright calls (an index 0 is a leader too: hence the id).
    new_id = wait_until(lambda: (lambda i: None if i is None else dash_cluster.specs[i].node_id)(
        leader_of(dash_cluster, survivors)), 30)
    leader_row = page.locator("#cluster-table tr[data-role=leader]")
    expect(leader_row).to_have_attribute("data-node", new_id, timeout=SHOWN_WITHIN_MS)
    killed = page.locator(f'#cluster-table tr[data-node="{dash_cluster.specs[old].node_id}"]')
    expect(killed).to_have_attribute("data-role", "down", timeout=SHOWN_WITHIN_MS)
    assert console_errors == []
