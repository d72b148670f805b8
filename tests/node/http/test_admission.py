"""A write the node refuses anyway is refused before its body is read: a node without a
leader answers 503 to headers whose body never arrives (reading it would end in a 408 after
the body timeout, or hang)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lithair_node import api
from lithair_node.lab.local_cluster import LocalCluster
from tests.http_helpers import first_answer, leaderless_cluster

WRITES = {
    "batch": b"POST " + api.BATCHES.encode(),
    "anomaly settings": b"PUT " + api.ANOMALY_SETTINGS.encode(),
    "new member": b"POST " + api.MEMBERS.encode(),
}


@pytest.fixture(scope="module")
def leaderless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with leaderless_cluster(tmp_path_factory.mktemp("leaderless"), "--body-timeout", "60") as cluster:
        yield cluster


@pytest.mark.parametrize("request_line", WRITES.values(), ids=WRITES.keys())
def test_refused_before_the_body_is_read(leaderless: LocalCluster, request_line: bytes) -> None:
    headers = request_line + b" HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n" \
        b"Content-Length: 1000\r\n\r\n{\"half"
    answer = first_answer(leaderless.specs[0].http_port, headers, timeout_s=30)
    assert answer.status == 503, answer
    assert answer.error["code"] == api.NO_LEADER, answer
    assert answer.headers[api.RETRY_AFTER], answer
