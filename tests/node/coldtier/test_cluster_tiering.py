"""The cold tier wired in, on real 3-node clusters: the Intel Lab sample moved to moto's S3
by the leader, the manifest and digest equal on every node, range reads over the tiered
period answering the same readings with "cold": true, DuckDB counting the files; and a
leader killed with -9 while tiering to a local directory loses or doubles no reading."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.dataset as ds
import pytest

from lithair_node.client.formats.intel_lab import read_readings
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.node.coldtier.store import S3Options, open_store
from lithair_node.polling import wait_until
from tests.cluster_fixtures import start_cluster
from tests.http_helpers import Answer, get, post_json, request, stats, wait_for
from tests.node.coldtier.conftest import BUCKET

TOKEN = "w-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
POLICY = {"rules": [{"raw": "forever", "tier_after": "1d"}]}  # 2004 data: all of it is due
MARCH_2004 = ("2004-02-01T00:00:00Z", "2004-05-01T00:00:00Z")


def put_policy(url: str, body: Any) -> Answer:
    return request("PUT", f"{url}/api/v1/settings/lifecycle", json.dumps(body).encode(),
                   {"Content-Type": "application/json", **AUTH})


def write_all(url: str, readings: list[dict[str, Any]]) -> int:
    for i in range(0, len(readings), 2000):
        assert post_json(url, {"readings": readings[i:i + 2000]}, headers=AUTH).status == 200
    return int(stats(url)["total_readings"])


def all_readings(url: str, sensor: str) -> tuple[list[dict[str, Any]], set[bool]]:
    """Every reading of `sensor` in March 2004, page by page, and the pages' "cold" flags."""
    out, flags, cursor = [], set(), None
    while True:
        query = {"from": MARCH_2004[0], "to": MARCH_2004[1], "limit": 1000,
                 **({"cursor": cursor} if cursor else {})}
        page = get(f"{url}/api/v1/sensors/{sensor}/readings?{urllib.parse.urlencode(query)}")
        assert page.status == 200, page
        out += page.body["readings"]
        flags.add(bool(page.body.get("cold")))
        cursor = page.body["next_cursor"]
        if cursor is None:
            return out, flags


def tiered_everywhere(cluster: LocalCluster, written: int, indexes: list[int]) -> None:
    for i in indexes:
        wait_for(lambda i=i: (lambda s: s["total_readings"] == 0 and s["cold_readings"] == written)(
            stats(cluster.urls[i])), 60, what=f"node {i} moved every reading to the cold tier")


def duckdb_counts(con: duckdb.DuckDBPyConnection, source: str) -> tuple[int, int, dict[str, int]]:
    total, distinct = con.sql(f"SELECT count(*), count(DISTINCT (sensor_id, ts)) FROM {source}").fetchall()[0]
    per = dict(con.sql(f"SELECT sensor_id, count(*) FROM {source} GROUP BY 1").fetchall())
    return total, distinct, per


@pytest.fixture(scope="module")
def s3_cluster(tmp_path_factory: pytest.TempPathFactory, s3_options: S3Options):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("cold-s3")
    secret = base / "s3-secret"
    secret.write_text("testing\n")
    running = start_cluster(base, extra_args=(
        "--token", TOKEN, "--lifecycle-tick", "0.3", "--cold-url", f"s3://{BUCKET}/cluster",
        "--cold-s3-endpoint", str(s3_options.endpoint), "--cold-s3-access-key", "testing",
        "--cold-s3-secret-key-file", str(secret)))
    yield running
    running.stop()


def test_the_intel_lab_sample_moves_to_s3_and_reads_back(s3_cluster: LocalCluster,
                                                         intel_lab_path: Path,
                                                         s3_options: S3Options) -> None:
    leader = s3_cluster.leader_index() or 0
    url = s3_cluster.urls[leader]
    written = write_all(url, read_readings(intel_lab_path))
    motes = sorted({r["sensor_id"] for r in read_readings(intel_lab_path)})
    before = {m: all_readings(url, m) for m in motes}
    assert all(flags == {False} for _, flags in before.values())

    assert put_policy(s3_cluster.urls[(leader + 1) % 3], POLICY).status == 200  # a follower
    tiered_everywhere(s3_cluster, written, [0, 1, 2])
    digests = s3_cluster.wait_converged()
    assert len({d["state_digest"] for d in digests}) == 1
    lives = [get(f"{u}/api/v1/settings/lifecycle").body for u in s3_cluster.urls]
    assert {life["cold_files"] for life in lives} == {lives[0]["cold_files"]} and lives[0]["cold_files"] > 0

    for index in range(3):  # every node reads the tier itself
        for mote in motes:
            got, flags = all_readings(s3_cluster.urls[index], mote)
            assert got == before[mote][0], (index, mote)
            assert flags == {True}
    assert sum(len(r) for r, _ in before.values()) == written
    ranged = f"from={MARCH_2004[0]}&to={MARCH_2004[1]}"
    for mote in motes[:3]:  # ranged statistics count the cold readings too
        answer = get(f"{url}/api/v1/sensors/{mote}/stats?{ranged}").body
        assert answer["readings"] == len(before[mote][0]) and answer["cold"] is True
        temps = [r["values"]["temperature"] for r in before[mote][0] if "temperature" in r["values"]]
        assert answer["metrics"]["temperature"]["count"] == len(temps)
        assert answer["metrics"]["temperature"]["max"] == max(temps)
    export = get(f"{s3_cluster.urls[(leader + 2) % 3]}/api/v1/export?format=csv&"
                 f"from={MARCH_2004[0]}&to={MARCH_2004[1]}")
    assert export.status == 200 and export.headers.get("X-Lithair-Cold") == "true"
    assert len(export.body.decode().splitlines()) == written + 1  # and the header line

    store = open_store(f"s3://{BUCKET}/cluster", s3_options)
    assert len(store.list()) == lives[0]["cold_files"]  # nothing unlisted left behind
    tier = ds.dataset(f"{BUCKET}/cluster", filesystem=store.filesystem, format="parquet",
                      partitioning="hive")
    con = duckdb.connect()
    con.register("tier", tier)
    total, distinct, per = duckdb_counts(con, "tier")
    assert total == distinct == written
    assert per == {m: len(before[m][0]) for m in motes}


def test_a_tier_after_rule_needs_a_cold_tier(tmp_path: Path) -> None:
    node = start_cluster(tmp_path, nodes=1, extra_args=("--token", TOKEN))
    try:
        refused = put_policy(node.urls[0], POLICY)
        assert refused.status == 422 and refused.error["code"] == "invalid_policy"
        assert refused.error["field"] == "rules[0].tier_after" and "--cold-url" in refused.error["message"]
    finally:
        node.stop()


def synthetic(sensors: int, per_sensor: int) -> list[dict[str, Any]]:
    start = 1_079_000_000  # March 2004
    return [{"sensor_id": f"k{k:03d}", "timestamp": start + 997 * i + k,  # 4.6 days "location": f"r{k % 4}",
             "temperature": 20.0 + (i % 17) / 4, "humidity": 40.0 + k % 9}
            for k in range(sensors) for i in range(per_sensor)]


def test_killing_the_leader_while_tiering_loses_and_doubles_nothing(tmp_path: Path) -> None:
    cold_dir = tmp_path / "cold"
    cluster = start_cluster(tmp_path / "nodes", extra_args=(
        "--token", TOKEN, "--lifecycle-tick", "0.2", "--cold-url", str(cold_dir)))
    try:
        leader = cluster.leader_index() or 0
        url = cluster.urls[leader]
        written = write_all(url, synthetic(200, 400))
        assert put_policy(url, POLICY).status == 200
        # -9 as soon as its first file is in place: mid-write, or before its entry commits
        wait_until(lambda: next(cold_dir.rglob("*.parquet"), None), 30, period_s=0.002,
                   what="the leader's first cold file")
        cluster.kill_node(leader)
        others = [i for i in range(3) if i != leader]
        tiered_everywhere(cluster, written, others)
        cluster.start_node(leader)
        cluster.wait_ready(indexes=[leader])
        tiered_everywhere(cluster, written, [0, 1, 2])
        digests = cluster.wait_converged()
        assert len({d["state_digest"] for d in digests}) == 1
        files = get(f"{cluster.urls[others[0]]}/api/v1/settings/lifecycle").body["cold_files"]
        listed = sorted(p.relative_to(cold_dir).as_posix() for p in cold_dir.rglob("*.parquet"))
        assert len(listed) == files  # the dead leader's unlisted files, if any, were swept
        con = duckdb.connect()
        source = f"read_parquet('{cold_dir}/**/*.parquet', hive_partitioning = true, union_by_name = true)"
        total, distinct, per = duckdb_counts(con, source)
        assert total == distinct == written
        assert set(per.values()) == {400}
        got, flags = all_readings(cluster.urls[leader], "k007")  # the restarted node reads too
        assert len(got) == 400 and flags == {True}
    finally:
        cluster.stop()
