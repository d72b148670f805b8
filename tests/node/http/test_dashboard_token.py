"""The dashboard on a node with a read token: the page asks for it, or takes it from the
URL fragment (then removes it from the address bar). Debian's chromium via Playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lithair_node import api
from lithair_node.client.blocking_api import http_json
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.polling import wait_until

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
READ_TOKEN = "r-secret"


@pytest.fixture
def guarded_node(tmp_path: Path) -> Iterator[str]:
    node = LocalCluster(tmp_path, nodes=1, extra_args=("--read-token", READ_TOKEN)).start()
    try:
        # /readyz is open; the lab's wait_ready also reads the (guarded) cluster status.
        wait_until(lambda: http_json(node.urls[0] + api.READYZ)[0] == 200, 60)
        yield node.urls[0]
    finally:
        node.stop()


def test_the_page_asks_for_the_read_token_or_takes_it_from_the_fragment(guarded_node: str) -> None:
    expect = playwright_api.expect
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            asking = browser.new_page()
            asking.goto(guarded_node + "/")
            expect(asking.locator("#token-form")).to_be_visible(timeout=10_000)
            expect(asking.locator("#cluster-table tbody tr")).to_have_count(0)
            asking.fill("#token-input", READ_TOKEN)
            asking.click("#token-form button")
            expect(asking.locator("#cluster-table tbody tr")).to_have_count(1, timeout=10_000)

            errors: list[str] = []
            tab = browser.new_page()  # a tab of its own: sessionStorage starts empty
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.goto(f"{guarded_node}/#token={READ_TOKEN}")
            expect(tab.locator("#cluster-table tr[data-role=leader]")).to_have_count(1, timeout=10_000)
            expect(tab.locator("#stream-state")).to_have_text("live", timeout=10_000)
            assert READ_TOKEN not in tab.url
            expect(tab.locator("#token-form")).to_be_hidden()
            assert errors == []
        finally:
            browser.close()
