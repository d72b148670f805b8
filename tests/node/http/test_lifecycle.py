"""Retention and rollups on a real 3-node cluster: the policy through PUT, the leader's
clock ticks, old readings gone on every node with equal digests, /aggregate from rollups
once the raw data is gone (the Intel Lab sample's hourly means), and bad policies refused."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lithair_node.client.formats.intel_lab import read_readings
from lithair_node.lab.local_cluster import LocalCluster
from tests.cluster_fixtures import start_cluster
from tests.http_helpers import Answer, get, post_json, request, stats, wait_for
from tests.intel_reference import close, hourly_means, parse_file

TOKEN = "w-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOUR_S = 3600
POLICY = {"rules": [
    {"match": {"location": "yard"}, "raw": "1h", "rollups": [{"every": "1h", "keep": "forever"}]},
    {"raw": "1d", "rollups": [{"every": "1m", "keep": "2d"}, {"every": "1h", "keep": "forever"}]},
]}


@pytest.fixture(scope="module")
def aging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path_factory.mktemp("lifecycle"),
                            extra_args=("--token", TOKEN, "--lifecycle-tick", "0.3"))
    yield running
    running.stop()


def put_policy(url: str, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return request("PUT", f"{url}/api/v1/settings/lifecycle", json.dumps(body).encode(),
                   {"Content-Type": "application/json", **(AUTH if headers is None else headers)})


def aggregate(url: str, **params: Any) -> Answer:
    return get(f"{url}/api/v1/aggregate?{urllib.parse.urlencode(params)}")


@pytest.mark.parametrize(("body", "field"), [
    ({"rules": [{"raw": "ten days"}]}, "rules[0].raw"),
    ({"rules": [{"raw": "7d", "rollups": [{"every": "5m"}]}]}, "rules[0].rollups[0].every"),
    ({"rules": [{"raw": "1d", "tier_after": "2d"}]}, "rules[0].tier_after"),
    ({"rules": [{"raw": "1d"}, {"raw": "0h"}]}, "rules[1].raw"),
    ({"rules": [{"match": {"room": "a"}}]}, "rules[0].match"),
    ([1, 2], "rules"),
])
def test_a_bad_policy_is_refused_with_the_json_error_shape(aging: LocalCluster, body: Any,
                                                            field: str) -> None:
    answer = put_policy(aging.urls[0], body)
    assert answer.status == 422, answer
    assert answer.error["code"] == "invalid_policy" and answer.error["field"] == field
    assert answer.error["reading"] is None and answer.error["message"]


def test_the_policy_needs_the_write_token(aging: LocalCluster) -> None:
    assert put_policy(aging.urls[0], POLICY, headers={}).status == 401


def yard(start_s: int, count: int, sensors: int = 2) -> list[dict[str, Any]]:
    return [{"sensor_id": f"yard-{k}", "timestamp": start_s + 10 * i, "location": "yard",
             "temperature": 10.0 + (i % 7) + k} for k in range(sensors) for i in range(count)]


def test_old_readings_go_on_every_node_and_rollups_answer_for_them(
        aging: LocalCluster, intel_lab_path: Path) -> None:
    leader = aging.leader_index() or 0
    url = aging.urls[leader]
    now_s = int(time.time())
    old_hour = (now_s // HOUR_S - 3) * HOUR_S
    old, new = yard(old_hour, 300), yard(now_s - 200, 10)  # 3 h old; a few minutes old
    for batch in (old, new):
        assert post_json(url, {"readings": batch}, headers=AUTH).status == 200
    intel = read_readings(intel_lab_path)  # 2004: far beyond the 1-day window
    for i in range(0, len(intel), 2000):
        assert post_json(url, {"readings": intel[i:i + 2000]}, headers=AUTH).status == 200
    assert aggregate(url, metric="temperature", location="yard", every="1h").body["source"] == "raw"

    answer = put_policy(aging.urls[(leader + 1) % 3], POLICY)  # a follower: through the log
    assert answer.status == 200, answer
    assert answer.body["rules"][0]["raw"] == "1h"

    held = len(new)
    for index in range(3):  # the ticks' retention, on every node
        wait_for(lambda i=index: stats(aging.urls[i])["total_readings"] == held, 30,
                 what=f"node {index} dropped the expired readings")
    digests = aging.wait_converged()
    assert len({d["state_digest"] for d in digests}) == 1
    for index in range(3):
        life = get(f"{aging.urls[index]}/api/v1/settings/lifecycle").body
        assert life["rules"] == answer.body["rules"]
        assert life["expired_readings"] == len(old) + len(intel)
        assert life["clock_us"] >= now_s * 1_000_000

    # The yard's old hour, from the 1h rollup (backfilled when the policy was set).
    rolled = aggregate(url, metric="temperature", location="yard", every="1h",
                       **{"from": old_hour, "to": old_hour + HOUR_S}, fn="count,mean,min,max")
    assert rolled.status == 200 and rolled.body["source"] == "rollup_1h"
    (bucket,) = rolled.body["buckets"]
    values = [r["temperature"] for r in old]
    assert bucket["count"] == len(values) and bucket["min"] == min(values)
    assert close(bucket["mean"], sum(values) / len(values))
    raw = aggregate(url, metric="temperature", location="yard", every="1h", source="raw",
                    **{"from": old_hour, "to": old_hour + HOUR_S})
    assert raw.body["source"] == "raw" and raw.body["buckets"] == []  # the raw copy is gone

    # The Intel Lab sample: every hourly mean, from rollups, equals the file's.
    reference = hourly_means(parse_file(intel_lab_path), "temperature")
    for mote, hours in reference.items():
        got = aggregate(url, metric="temperature", sensor_id=mote, every="1h", fn="count,mean")
        assert got.body["source"] == "rollup_1h"
        rows = {r["start_us"]: (r["count"], r["mean"]) for r in got.body["buckets"]}
        assert rows.keys() == hours.keys()
        for start, (count, mean) in hours.items():
            assert rows[start][0] == count and close(rows[start][1], mean), (mote, start)
    # 90m is 90 x 1m: the 1m rollup (kept 2 days) answers, and it has expired too.
    minutes = aggregate(url, metric="temperature", sensor_id="55", every="90m")
    assert minutes.body["source"] == "rollup_1m" and minutes.body["buckets"] == []
    # Every 90s no rollup can answer: raw (none left), and source=rollup is a 400.
    seconds = aggregate(url, metric="temperature", sensor_id="55", every="90s")
    assert seconds.body["source"] == "raw" and seconds.body["buckets"] == []
    refused = aggregate(url, metric="temperature", sensor_id="55", every="90s", source="rollup")
    assert refused.status == 400 and refused.error["field"] == "source"
