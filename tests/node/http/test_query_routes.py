"""The query API against a real 3-node cluster: every endpoint, every consistency level,
the Intel Lab equality check, and `lithair load` with interruption and resume."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet
import pytest

from lithair_node.client.blocking_api import http_json
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.node.timestamps import format_timestamp
from tests.http_helpers import Answer, get, post_json, request, stats
from tests.intel_reference import METRICS, close, hourly_means, parse_file, per_mote_stats

MOTES = ("55", "56", "58")
HOUR = 3_600_000_000


def load_cmd(url: str, path: Path, checkpoint: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lithair_node", "load", str(path), "--format", "intel-lab",
            "--node", url, "--checkpoint", str(checkpoint), "--json", *extra]


def follower_index(cluster: LocalCluster) -> int:
    leader = cluster.leader_index()
    return next(i for i in range(3) if i != leader)


@pytest.fixture(scope="module")
def loaded(cluster: LocalCluster, intel_lab_path: Path, tmp_path_factory) -> LocalCluster:
    """The Intel Lab sample, loaded through a follower with `lithair load`."""
    checkpoint = tmp_path_factory.mktemp("load") / "ckpt.json"
    done = subprocess.run(load_cmd(cluster.urls[follower_index(cluster)], intel_lab_path,
                                   checkpoint, "--batch-size", "700"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["complete"] and report["readings_acked"] == 9719 and report["accepted"] == 9719
    assert json.loads(checkpoint.read_text())["complete"] is True
    cluster.wait_converged()
    return cluster


def q(url: str, path: str, **params: object) -> Answer:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    return get(f"{url}/api/v1{path}" + (f"?{query}" if query else ""))


def applied(answer: Answer) -> int:
    index = int(answer.headers["X-Lithair-Applied-Index"])
    if isinstance(answer.body, dict) and "applied_index" in answer.body:
        assert answer.body["applied_index"] == index
    return index


def test_intel_lab_stats_and_hourly_means_equal_the_file_on_every_node(loaded, intel_lab_path) -> None:
    rows = parse_file(intel_lab_path)
    want = per_mote_stats(rows)
    hourly = {metric: hourly_means(rows, metric) for metric in METRICS}
    for url in loaded.urls:
        for mote in MOTES:
            for params in ({}, {"from": 0, "to": "2100-01-01T00:00:00Z"}):  # running + scanned
                answer = q(url, f"/sensors/{mote}/stats", **params)
                assert answer.status == 200, answer
                assert answer.body["readings"] == sum(1 for r in rows if r[0] == mote)
                got = answer.body["metrics"]
                assert set(got) == set(want[mote])
                for metric, expected in want[mote].items():
                    for key, value in expected.items():
                        assert close(got[metric][key], value), (url, mote, metric, key, params)
            for metric in METRICS:
                answer = q(url, "/aggregate", metric=metric, every="1h", sensor_id=mote,
                           fn="mean,count")
                assert answer.status == 200, answer
                expected = hourly[metric][mote]
                assert [b["start_us"] for b in answer.body["buckets"]] == sorted(expected)
                for bucket in answer.body["buckets"]:
                    count, mean = expected[bucket["start_us"]]
                    assert bucket["count"] == count
                    assert close(bucket["mean"], mean), (url, mote, metric, bucket)


def test_sensors_list_is_paginated_and_complete(loaded) -> None:
    posted = [f"list-{i:02d}" for i in range(23)]
    answer = post_json(loaded.urls[0], {"readings": [
        {"sensor_id": s, "timestamp": 1_700_000_000 + i, "location": "listing-room",
         "temperature": float(i), **({"co2": 400.0} if i % 2 else {})}
        for i, s in enumerate(posted)]})
    assert answer.status == 200
    url = loaded.urls[2]
    seen, cursor = [], None
    while True:
        page = q(url, "/sensors", limit=7, cursor=cursor, consistency="linearizable")
        assert page.status == 200 and len(page.body["sensors"]) <= 7
        seen += page.body["sensors"]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    ids = [s["sensor_id"] for s in seen]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == page.body["total"]
    assert set(posted) | set(MOTES) <= set(ids)
    mote = next(s for s in seen if s["sensor_id"] == "55")
    assert mote["readings"] == 2850 and mote["metrics"] == sorted(METRICS)
    assert mote["first_timestamp"] == "2004-03-11T16:52:19.794238Z"
    by_room = q(url, "/sensors", location="listing-room", limit=1000)
    assert [s["sensor_id"] for s in by_room.body["sensors"]] == posted
    assert by_room.body["sensors"][1]["metrics"] == ["co2", "temperature"]
    assert by_room.body["sensors"][0]["metrics"] == ["temperature"]
    assert q(url, "/sensors", limit=0).status == 400


def test_latest_per_sensor_and_by_location_and_locations_index(loaded) -> None:
    a, b = loaded.urls[0], loaded.urls[1]
    body = {"readings": [
        {"sensor_id": "loc-1", "timestamp": "2026-01-01T00:00:05Z", "location": "greenhouse", "t": 5.0},
        {"sensor_id": "loc-1", "timestamp": "2026-01-01T00:00:09Z", "location": "greenhouse", "t": 9.0},
        {"sensor_id": "loc-1", "timestamp": "2026-01-01T00:00:01Z", "location": "greenhouse", "t": 1.0},
        {"sensor_id": "loc-2", "timestamp": "2026-01-01T00:00:03Z", "location": "greenhouse", "h": 3.0},
        {"sensor_id": "loc-3", "timestamp": "2026-01-01T00:00:03Z", "location": "shed", "h": 30.0},
    ]}
    assert post_json(a, body).status == 200
    latest = q(b, "/latest", location="greenhouse", consistency="linearizable")
    assert latest.status == 200
    assert [(s["sensor_id"], s["timestamp"], s["values"]) for s in latest.body["sensors"]] == [
        ("loc-1", "2026-01-01T00:00:09.000000Z", {"t": 9.0}),
        ("loc-2", "2026-01-01T00:00:03.000000Z", {"h": 3.0})]
    one = q(b, "/sensors/loc-1/latest")
    assert one.body["values"] == {"t": 9.0} and applied(one) >= 1
    # loc-2 moves to the shed: the index follows on every node
    assert post_json(b, {"readings": [{"sensor_id": "loc-2", "timestamp": 4, "location": "shed",
                                       "h": 1.0}]}).status == 200
    loaded.wait_converged()
    for url in loaded.urls:
        locations = {item["location"]: item["sensors"] for item in q(url, "/locations").body["locations"]}
        assert locations["greenhouse"] == ["loc-1"]
        assert locations["shed"] == ["loc-2", "loc-3"]
    assert q(b, "/latest", location="nowhere").status == 404
    assert q(b, "/latest").status == 400
    by_id = q(b, "/latest", sensor_id="loc-3,ghost")
    assert [s["sensor_id"] for s in by_id.body["sensors"]] == ["loc-3"]
    assert by_id.body["unknown_sensors"] == ["ghost"]


def test_readings_range_in_timestamp_order_with_cursor_pages(loaded) -> None:
    sensor = "range-mixed"
    stamps = list(range(1_000, 1_600, 3))
    # out of order across three writes to three nodes, with duplicates and varying metrics
    parts = [stamps[100:], stamps[:60], stamps[40:120]]
    expected: dict[int, dict[str, float]] = {}
    for url, part in zip(loaded.urls, parts, strict=True):
        readings = []
        for t in reversed(part):
            r = {"sensor_id": sensor, "timestamp": t, "temperature": t / 10}
            if t % 2:
                r["humidity"] = float(t % 7)
            readings.append(r)
            expected.setdefault(t * 1_000_000, {k: v for k, v in r.items()
                                                 if k not in ("sensor_id", "timestamp")})
        assert post_json(url, {"readings": readings}).status == 200
    url = loaded.urls[1]
    start, end = 1_030, "1970-01-01T00:25:00Z"  # epoch seconds and RFC 3339 mixed
    got, cursor, pages = [], None, 0
    while True:
        page = q(url, f"/sensors/{sensor}/readings", **{"from": start, "to": end}, limit=37,
                 cursor=cursor, consistency="linearizable")
        assert page.status == 200, page
        got += page.body["readings"]
        pages += 1
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    want = sorted(t for t in expected if 1_030_000_000 <= t < 1_500_000_000)
    assert [r["timestamp_us"] for r in got] == want
    assert all(r["values"] == expected[r["timestamp_us"]] for r in got)
    assert pages == -(-len(want) // 37)
    humid = q(url, f"/sensors/{sensor}/readings", metric="humidity", limit=5)
    assert [r["values"] for r in humid.body["readings"]] == [
        {"humidity": expected[t]["humidity"]} for t in sorted(expected) if "humidity" in expected[t]][:5]
    assert q(url, f"/sensors/{sensor}/readings", metric="nope").status == 404
    assert q(url, "/sensors/ghost/readings").status == 404
    bad = q(url, f"/sensors/{sensor}/readings", **{"from": "tuesday"})
    assert bad.status == 400 and bad.error["field"] == "from"
    assert set(bad.error) == {"code", "message", "reading", "field"}


def test_aggregate_per_location_combines_its_sensors(loaded) -> None:
    readings = []
    values: dict[int, list[float]] = {}
    for s in range(3):
        for i in range(120):
            t = 1_800_000_000 + i * 97 + s
            v = float((i * 7 + s * 3) % 23)
            readings.append({"sensor_id": f"agg-{s}", "timestamp": t, "location": "agg-hall",
                             "power": v})
            values.setdefault(t // 3600 * 3600, []).append(v)
    assert post_json(loaded.urls[2], {"readings": readings}).status == 200
    answer = q(loaded.urls[0], "/aggregate", metric="power", every="1h", location="agg-hall",
               fn="count,min,max,mean,sum", consistency="linearizable")
    assert answer.status == 200 and answer.body["sensors"] == 3
    assert [b["start_us"] // 1_000_000 for b in answer.body["buckets"]] == sorted(values)
    for bucket in answer.body["buckets"]:
        xs = values[bucket["start_us"] // 1_000_000]
        assert (bucket["count"], bucket["min"], bucket["max"]) == (len(xs), min(xs), max(xs))
        assert close(bucket["mean"], sum(xs) / len(xs)) and close(bucket["sum"], sum(xs))
    windowed = q(loaded.urls[0], "/aggregate", metric="power", every="30m", location="agg-hall",
                 **{"from": 1_800_000_000, "to": 1_800_003_600}, fn="count")
    assert sum(b["count"] for b in windowed.body["buckets"]) == sum(
        1 for r in readings if r["timestamp"] < 1_800_003_600)
    assert q(loaded.urls[0], "/aggregate", metric="power", every="1 hour").status == 400
    assert q(loaded.urls[0], "/aggregate", every="1h").status == 400
    too_many = q(loaded.urls[0], "/aggregate", metric="temperature", every="1us", sensor_id="55")
    assert too_many.status == 400 and too_many.error["field"] == "every"


def test_anomalies_are_the_same_on_every_node_and_settings_go_through_the_log(loaded) -> None:
    loaded.wait_converged()
    answers = [q(url, "/anomalies", sensor_id="55,56,58", limit=10_000) for url in loaded.urls]
    lists = [a.body["anomalies"] for a in answers]
    assert lists[0] and lists[0] == lists[1] == lists[2]
    for item in lists[0]:
        for detail in item["metrics"].values():
            assert detail["sigmas"] > 3.0
    since = lists[0][len(lists[0]) // 2]["timestamp"]
    later = q(loaded.urls[1], "/anomalies", since=since, sensor_id="55,56,58").body["anomalies"]
    assert later and all(a["timestamp"] >= since for a in later)
    light = q(loaded.urls[1], "/anomalies", metric="light").body["anomalies"]
    assert light and all("light" in a["metrics"] for a in light)

    body = json.dumps({"sigma": 2.5, "cooldown_s": 30}).encode()
    changed = request("PUT", f"{loaded.urls[2]}/api/v1/settings/anomalies", body,
                      {"Content-Type": "application/json"})
    assert changed.status == 200, changed
    assert (changed.body["sigma"], changed.body["cooldown_s"]) == (2.5, 30.0)
    loaded.wait_converged()
    for url in loaded.urls:
        settings = q(url, "/settings/anomalies").body
        assert (settings["sigma"], settings["cooldown_s"], settings["min_count"]) == (2.5, 30.0, 30)
    bad = request("PUT", f"{loaded.urls[0]}/api/v1/settings/anomalies",
                  json.dumps({"sigma": -1}).encode(), {"Content-Type": "application/json"})
    assert bad.status == 400 and bad.error["code"] == "invalid_parameter"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_streams_the_readings(loaded, intel_lab_path, fmt) -> None:
    rows = parse_file(intel_lab_path)
    url = loaded.urls[follower_index(loaded)]
    answer = q(url, "/export", format=fmt, sensor_id="55,58", **{"from": "2004-03-01T00:00:00Z"})
    assert answer.status == 200
    assert answer.headers.get("Transfer-Encoding") == "chunked"
    assert int(answer.headers["X-Lithair-Applied-Index"]) > 0
    data = answer.body
    table = (pa_csv.read_csv(io.BytesIO(data), convert_options=pa_csv.ConvertOptions(
        column_types={"sensor_id": "string", "timestamp": "string"}))
        if fmt == "csv" else pa_parquet.read_table(io.BytesIO(data)))
    want = sorted((m, t, v) for m, t, v in rows if m in ("55", "58"))
    assert table.num_rows == len(want)
    got = table.to_pylist()
    assert [r["sensor_id"] for r in got] == [m for m, _, _ in want]
    for row, (_, _, values) in zip(got, want, strict=True):
        assert {k: row[k] for k in values} == values
    if fmt == "csv":
        first = min(t for m, t, _ in rows if m == "55")
        assert got[0]["timestamp"] == format_timestamp(first)
    assert q(url, "/export", format="xlsx").status == 400


def test_linearizable_read_on_one_node_right_after_a_write_acked_by_another(loaded) -> None:
    urls = loaded.urls
    for round_no in range(12):
        writer, reader = urls[round_no % 3], urls[(round_no + 1) % 3]
        sensor = f"lin-{round_no}"
        ack = post_json(writer, {"readings": [{"sensor_id": sensor, "timestamp": 100 + round_no,
                                               "temperature": float(round_no)}]})
        assert ack.status == 200
        read = q(reader, f"/sensors/{sensor}/latest", consistency="linearizable")
        assert read.status == 200, (round_no, read)
        assert read.body["values"] == {"temperature": float(round_no)}
        assert read.headers["X-Lithair-Consistency"] == "linearizable"
        assert applied(read) > ack.body["raft_index"]  # the barrier comes after the write
        stats_read = q(reader, f"/sensors/{sensor}/stats", consistency="linearizable")
        assert stats_read.body["readings"] == 1


def test_leader_reads_are_served_by_the_leader(loaded) -> None:
    leader = loaded.leader_index()
    leader_id = loaded.specs[leader].node_id
    for url in loaded.urls:
        answer = q(url, "/stats", consistency="leader")
        assert answer.status == 200
        assert answer.headers["X-Lithair-Node"] == leader_id
        assert answer.body["role"] == "leader"
        export = q(url, "/export", format="csv", sensor_id="56", consistency="leader")
        assert export.status == 200 and export.headers["X-Lithair-Node"] == leader_id
        assert export.body.count(b"\n") == 2372 + 1
    local = q(loaded.urls[(leader + 1) % 3], "/stats")
    assert local.headers["X-Lithair-Consistency"] == "local"
    assert local.headers["X-Lithair-Node"] != leader_id
    assert q(loaded.urls[0], "/stats", consistency="strong").status == 400


def test_load_resumes_after_ctrl_c_and_kill_without_duplicates(cluster, intel_lab_path,
                                                               tmp_path) -> None:
    # A copy of the sample under other mote ids, so this test owns its sensors.
    path = tmp_path / "renamed.txt"
    lines = intel_lab_path.read_text().splitlines()
    renamed = [" ".join([*f[:3], "r" + f[3], *f[4:]]) for f in (line.split() for line in lines)]
    path.write_text("\n".join(renamed) + "\nthis line is not a reading\n")
    checkpoint = tmp_path / "load.json"
    url = cluster.urls[follower_index(cluster)]
    before = stats(url)

    def start() -> subprocess.Popen[str]:
        # SIGINT inherited as ignored, as in a background job of a script: Ctrl-C must still
        # stop the load cleanly (and does in a terminal).
        return subprocess.Popen(load_cmd(url, path, checkpoint, "--batch-size", "250",
                                         "--rate", "2500"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))

    def wait_checkpoint_past(line: int) -> dict:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if checkpoint.exists():
                saved = json.loads(checkpoint.read_text())
                if saved["next_line"] > line:
                    return saved
            time.sleep(0.05)
        raise AssertionError("the checkpoint did not advance")

    first = start()
    wait_checkpoint_past(1_000)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 130, err
    after_int = json.loads(checkpoint.read_text())
    assert after_int["next_line"] > 1_000 and not after_int["complete"]
    assert (after_int["next_line"] - 1) % 250 == 0  # always at a batch boundary

    second = start()
    crashed_at = wait_checkpoint_past(after_int["next_line"] + 500)
    second.kill()  # kill -9: no chance to save anything more
    second.wait(timeout=10)
    # Simulate a checkpoint lagging far behind the acks: everything before is sent again.
    lagging = dict(crashed_at, next_line=1, next_offset=0, readings_acked=0, batches_acked=0,
                   skipped_lines=0)
    checkpoint.write_text(json.dumps(lagging))

    third = subprocess.run(load_cmd(url, path, checkpoint, "--batch-size", "1000"),
                           capture_output=True, text=True, timeout=120)
    assert third.returncode == 0, third.stderr
    assert "checkpoint's batch size of 250" in third.stderr
    report = json.loads(third.stdout)
    assert report["complete"] and report["skipped_lines"] == 1
    assert report["readings_acked"] == 9719
    assert report["duplicate_batches"] >= crashed_at["batches_acked"]
    assert report["duplicates"] == 0  # recognised as whole batches, not re-applied
    cluster.wait_converged()
    after = stats(url)
    assert after["total_readings"] - before["total_readings"] == 9719
    assert after["duplicate_readings"] == before["duplicate_readings"]
    want = per_mote_stats(parse_file(intel_lab_path))
    for mote in MOTES:
        got = q(url, f"/sensors/r{mote}/stats").body["metrics"]
        for metric, expected in want[mote].items():
            assert all(close(got[metric][k], v) for k, v in expected.items()), (mote, metric)


def test_query_routes_take_the_read_token_and_settings_the_write_token(tmp_path) -> None:
    node = LocalCluster(tmp_path, nodes=1, extra_args=("--token", "w-secret",
                                                      "--read-token", "r-secret")).start()
    try:
        url = node.urls[0]
        deadline = time.monotonic() + 60  # /readyz stays open; the status route needs a token
        while http_json(f"{url}/readyz")[0] != 200:
            assert time.monotonic() < deadline, node.log_tail(0)
            time.sleep(0.05)
        reader = {"Authorization": "Bearer r-secret"}
        writer = {"Authorization": "Bearer w-secret"}
        for path in ("/sensors", "/locations", "/anomalies", "/export?format=csv",
                     "/aggregate?metric=t&every=1h", "/settings/anomalies"):
            assert get(f"{url}/api/v1{path}").status == 401, path
            assert get(f"{url}/api/v1{path}", headers=reader).status == 200, path
        linear = get(f"{url}/api/v1/sensors?consistency=linearizable", headers=reader)
        assert linear.status == 200 and linear.headers["X-Lithair-Consistency"] == "linearizable"
        body = json.dumps({"min_count": 50}).encode()
        json_type = {"Content-Type": "application/json"}
        put = f"{url}/api/v1/settings/anomalies"
        assert request("PUT", put, body, json_type).status == 401
        assert request("PUT", put, body, {**json_type, **reader}).status == 403
        changed = request("PUT", put, body, {**json_type, **writer})
        assert changed.status == 200 and changed.body["min_count"] == 50
    finally:
        node.stop()
