"""Every accepted reading reads back exactly, through every read route, on a live 3-node
cluster: ids with unicode, spaces, braces, commas, slashes, percent signs and dots;
timestamps at both ends of the range, with fractions, in every input form; any metric
name; values from subnormals to +-1.7e308, and -0.0. No answer is a 5xx.

A model of what is stored (first write of a (sensor, timestamp) wins) is kept across
examples, so sensors written by several examples are checked as a whole."""

from __future__ import annotations

import contextlib
import io
import json
import math
from typing import Any
from urllib.parse import quote, urlencode

import msgpack
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lithair_node import api
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.node.timestamps import MAX_US, format_timestamp, parse_timestamp
from tests.http_helpers import Answer, get, post_raw, stats

Model = dict[str, dict[int, dict[str, float]]]
SPECIALS = list(" ,{}/%.?#&=+;:~\"'\\é€😀ǅ\u00a0")


def _valid_id(text: str) -> bool:
    return text.isprintable() and not text.isspace()


sensor_ids = st.one_of(
    st.text(st.one_of(st.sampled_from(SPECIALS),
                      st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Co", "Cn"))),
            min_size=1, max_size=12).filter(_valid_id),
    st.sampled_from([".", "..", "{x}", " a ", "a,b", "%2F", "100%", "a/b/", "NA", "null"]),
    st.integers(0, 10**15),
)
micros = st.one_of(st.sampled_from([0, 1, 999_999, 1_000_000, MAX_US, MAX_US - 1, MAX_US - 999_999,
                                    1_482_969_600_000_000]),
                   st.integers(0, MAX_US))
forms = st.sampled_from(["rfc3339", "offset", "seconds", "msgpack"])
metric_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}", fullmatch=True).filter(
    lambda name: name not in ("sensor_id", "timestamp", "location", "values"))
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.7e308, -1.7e308, 1.7976931348623157e308, 5e-324, -5e-324,
                     2.2250738585072014e-308, -0.0, 0.0]),
    st.integers(-(2**63), 2**63 - 1),
)
readings = st.lists(st.tuples(sensor_ids, micros, forms,
                              st.dictionaries(metric_names, values, min_size=1, max_size=3),
                              st.booleans()),
                    min_size=1, max_size=5)


def timestamp_as(form: str, stamp: int) -> Any:
    """`stamp` in one of the input forms (falling back to RFC 3339 where a form cannot hold
    it exactly)."""
    if form == "msgpack":
        return msgpack.Timestamp(stamp // 1_000_000, stamp % 1_000_000 * 1000)
    if form == "seconds":
        seconds = stamp // 1_000_000 if stamp % 1_000_000 == 0 else stamp / 1_000_000
        with contextlib.suppress(ValueError):  # rounded past the end
            if parse_timestamp(seconds) == stamp:
                return seconds
    if form == "offset" and stamp >= 3_600_000_000:  # the same instant at UTC-01:00
        return format_timestamp(stamp - 3_600_000_000).replace("Z", "-01:00")
    return format_timestamp(stamp)


def same(got: Any, expected: float) -> bool:
    """Exactly equal, the sign of a zero included."""
    return (isinstance(got, float | int) and float(got) == expected
            and math.copysign(1, got) == math.copysign(1, expected))


def same_values(got: dict[str, Any], expected: dict[str, float]) -> bool:
    return got.keys() == expected.keys() and all(same(got[k], v) for k, v in expected.items())


def ok(answer: Answer) -> Any:
    assert answer.status == 200, answer
    return answer.body


def query(**params: Any) -> str:
    """A query string; list values repeat the parameter (each value taken verbatim)."""
    pairs = [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
    return urlencode(pairs, quote_via=quote)


def sensor_url(url: str, template: str, sensor: str, **params: Any) -> str:
    return f"{url}{api.sensor_path(template, sensor)}?{query(**params)}"


@pytest.fixture(scope="module")
def model() -> Model:
    return {}


EDGES = [("{x}", MAX_US, "msgpack", {"a": 1.7e308, "b": -0.0}, False),
         (" a,b ", 0, "seconds", {"a": -1.7e308, "b": 5e-324}, True),
         ("%2F/..", MAX_US, "seconds", {"Z.z-9": -5e-324}, False),
         ("😀 {}", 1, "offset", {"_": 2.2250738585072014e-308}, False),
         ("\u00e9,", 253402300799_999_998, "rfc3339", {"a": 1.7976931348623157e308}, True)]


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(batch=readings)
@example(batch=EDGES)
def test_every_accepted_reading_reads_back(cluster: LocalCluster, model: Model,
                                           batch: list[tuple[Any, int, str, dict[str, Any], bool]]) -> None:
    node = cluster.urls[len(model) % len(cluster.urls)]
    body = [{"sensor_id": sensor, "timestamp": timestamp_as(form, stamp),
             **({"values": metrics} if nested else metrics)}
            for sensor, stamp, form, metrics, nested in batch]
    as_msgpack = any(form == "msgpack" for _, _, form, _, _ in batch)
    raw = (msgpack.packb({"readings": body}, use_bin_type=True) if as_msgpack
           else json.dumps({"readings": body}).encode())
    answer = post_raw(node, raw, api.MSGPACK_TYPE if as_msgpack else api.JSON_TYPE)
    assert ok(answer)["accepted"] + answer.body["duplicates"] == len(batch)
    touched: dict[str, set[int]] = {}
    for sensor, stamp, _, metrics, _ in batch:
        stored = model.setdefault(str(sensor), {})
        stored.setdefault(stamp, {name: float(v) for name, v in metrics.items()})
        touched.setdefault(str(sensor), set()).add(stamp)
    for sensor, stamps in touched.items():
        for stamp in stamps:
            check_one_reading(node, sensor, stamp, model[sensor][stamp])
        check_sensor(node, sensor, model[sensor])
    check_latest_by_list(node, model, sorted(touched))
    check_sensor_list(node, model, touched)
    for fmt in ("csv", "parquet"):
        check_export(node, model, sorted(touched), fmt)


def _instant(stamp: int) -> dict[str, str]:
    """from/to selecting exactly `stamp` (to is exclusive: left open at the very end)."""
    bounds = {"from": format_timestamp(stamp)}
    if stamp < MAX_US:
        bounds["to"] = format_timestamp(stamp + 1)
    return bounds


def check_one_reading(node: str, sensor: str, stamp: int, expected: dict[str, float]) -> None:
    page = ok(get(sensor_url(node, api.SENSOR_READINGS, sensor, **_instant(stamp))))
    assert page["sensor_id"] == sensor and page["count"] == 1, page
    (reading,) = page["readings"]
    assert reading["timestamp_us"] == stamp and reading["timestamp"] == format_timestamp(stamp)
    assert same_values(reading["values"], expected), (reading, expected)
    described = ok(get(sensor_url(node, api.SENSOR_STATS, sensor, **_instant(stamp))))["metrics"]
    assert described.keys() == expected.keys(), described
    for name, value in expected.items():
        row = described[name]
        assert row["count"] == 1 and same(row["min"], value) and same(row["max"], value), row
        assert row["mean"] == value, row
        bucket = ok(get(f"{node}{api.AGGREGATE}?" + query(
            metric=name, every="1us", fn=["min", "max", "count", "sum", "mean"],
            sensor_id=[sensor, ""], **_instant(stamp))))["buckets"]
        assert len(bucket) == 1 and bucket[0]["start_us"] == stamp, bucket
        assert bucket[0]["count"] == 1 and same(bucket[0]["min"], value), bucket
        assert same(bucket[0]["max"], value) and bucket[0]["sum"] == value == bucket[0]["mean"]


def check_sensor(node: str, sensor: str, stored: dict[int, dict[str, float]]) -> None:
    newest = max(stored)
    latest = ok(get(sensor_url(node, api.SENSOR_LATEST, sensor)))
    assert latest["sensor_id"] == sensor and latest["timestamp_us"] == newest, latest
    assert same_values(latest["values"], stored[newest])
    running = ok(get(sensor_url(node, api.SENSOR_STATS, sensor)))
    assert running["readings"] == len(stored)
    for name, row in running["metrics"].items():
        column = [v[name] for v in stored.values() if name in v]
        assert row["count"] == len(column) and row["min"] == min(column), (name, row)
        assert row["max"] == max(column) and row["mean"] is not None, (name, row)


def check_latest_by_list(node: str, model: Model, sensors: list[str]) -> None:
    found = ok(get(f"{node}{api.LATEST}?" + query(sensor_id=[*sensors, ""])))
    assert found["unknown_sensors"] == []
    by_id = {row["sensor_id"]: row for row in found["sensors"]}
    assert by_id.keys() == set(sensors)
    for sensor in sensors:
        newest = max(model[sensor])
        assert by_id[sensor]["timestamp_us"] == newest
        assert same_values(by_id[sensor]["values"], model[sensor][newest])


def check_sensor_list(node: str, model: Model, touched: dict[str, set[int]]) -> None:
    listed: dict[str, dict[str, Any]] = {}
    cursor = ""
    while True:
        page = ok(get(f"{node}{api.SENSORS}?" + query(limit=1000, cursor=cursor)))
        listed.update((row["sensor_id"], row) for row in page["sensors"])
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert listed.keys() == model.keys()
    for sensor in touched:
        row, stored = listed[sensor], model[sensor]
        assert row["readings"] == len(stored)
        assert row["first_timestamp"] == format_timestamp(min(stored))
        assert row["last_timestamp"] == format_timestamp(max(stored))
        assert row["metrics"] == sorted({name for v in stored.values() for name in v})


def check_export(node: str, model: Model, sensors: list[str], fmt: str) -> None:
    answer = get(f"{node}{api.EXPORT}?" + query(format=fmt, sensor_id=[*sensors, ""]))
    assert answer.status == 200, answer
    raw = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
    metrics = sorted({name for s in sensors for v in model[s].values() for name in v})
    if fmt == "csv":
        types = {"sensor_id": pa.string(), "timestamp": pa.string(), "location": pa.string(),
                 **{m: pa.float64() for m in metrics}}
        table = pa_csv.read_csv(io.BytesIO(raw), convert_options=pa_csv.ConvertOptions(
            column_types=types, strings_can_be_null=False))
        stamps = [parse_timestamp(t) for t in table.column("timestamp").to_pylist()]
    else:
        table = pa_parquet.read_table(io.BytesIO(raw))
        assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
        stamps = table.column("timestamp").cast(pa.int64()).to_pylist()
    assert table.column_names == ["sensor_id", "timestamp", "location", *metrics]
    rows = {}
    for i, (sensor, stamp) in enumerate(zip(table.column("sensor_id").to_pylist(), stamps,
                                            strict=True)):
        cells = {m: table.column(m)[i].as_py() for m in metrics}
        rows[(sensor, stamp)] = {m: v for m, v in cells.items() if v is not None}
    expected = {(s, t): v for s in sensors for t, v in model[s].items()}
    assert rows.keys() == expected.keys()
    for key, cells in expected.items():
        assert same_values(rows[key], cells), (fmt, key, rows[key], cells)


def test_nodes_agree_and_stay_healthy(cluster: LocalCluster, model: Model) -> None:
    assert model, "the read-back examples ran first"
    converged = cluster.wait_converged()
    assert {s["total_readings"] for s in converged} == {sum(map(len, model.values()))}
    for url in cluster.urls:
        assert get(f"{url}{api.HEALTH}").status == 200
        assert get(f"{url}{api.READYZ}").status == 200
        assert stats(url)["active_sensors"] == len(model)
