"""What `/api/v1/export` writes, read back with pyarrow and compared with what was written
(README, Reading: export): Parquet timestamps as `timestamp[us, tz=UTC]` with the exact
microseconds, CSV timestamps as RFC 3339 text, `from=` inclusive and `to=` exclusive, and
`location=` selecting that location's sensors only. Readings include a late arrival, so the
export merges out-of-order readings too."""

from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet
import pytest

from lithair_node import api
from lithair_node.lab.local_cluster import LocalCluster
from tests.http_helpers import get, post_json

UTC = dt.UTC
# (sensor, location, RFC 3339 timestamp, temperature); the last north reading arrives late.
WRITTEN = [
    ("exp-n1", "exp-north", "2026-11-25T10:00:00.250001Z", 21.5),
    ("exp-n1", "exp-north", "2026-11-25T10:00:01.000000Z", 21.625),
    ("exp-n1", "exp-north", "2026-11-25T10:00:02.999999Z", -3.25),
    ("exp-n2", "exp-north", "2026-11-25T10:00:01.000000Z", 18.0),
    ("exp-s1", "exp-south", "2026-11-25T10:00:00.500000Z", 30.125),
    ("exp-s1", "exp-south", "2026-11-25T10:00:03.000000Z", 31.0),
    ("exp-n1", "exp-north", "2026-11-25T09:59:59.000007Z", 20.0),  # late
]


def as_datetime(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def micros(text: str) -> int:
    delta = as_datetime(text) - dt.datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@pytest.fixture(scope="module")
def url(cluster: LocalCluster) -> str:
    leader = cluster.leader_index()
    assert leader is not None
    for i, (sensor, location, stamp, value) in enumerate(WRITTEN):
        body = {"readings": [{"sensor_id": sensor, "location": location, "timestamp": stamp,
                              "temperature": value}]}
        answer = post_json(cluster.urls[leader], body, key=f"export-content-{i}")
        assert answer.status == 200 and answer.body["accepted"] == 1, answer
    cluster.wait_converged()
    follower = next(i for i in range(cluster.nodes) if i != leader)
    return cluster.urls[follower]


def expected(location: str | None = None, start: str | None = None,
             end: str | None = None) -> list[tuple[str, str, str, float]]:
    rows = [r for r in WRITTEN if (location is None or r[1] == location)
            and (start is None or micros(r[2]) >= micros(start))
            and (end is None or micros(r[2]) < micros(end))]
    return sorted(rows, key=lambda r: (r[0], micros(r[2])))


def export(url: str, fmt: str, **params: str) -> pa.Table:
    query = "&".join(f"{k}={v}" for k, v in {"format": fmt, **params}.items())
    answer = get(f"{url}{api.EXPORT}?{query}")
    assert answer.status == 200, answer
    if fmt == "parquet":
        return pa_parquet.read_table(io.BytesIO(answer.body))
    return pa_csv.read_csv(io.BytesIO(answer.body), convert_options=pa_csv.ConvertOptions(
        column_types={"sensor_id": pa.string(), "timestamp": pa.string(),
                      "location": pa.string(), "temperature": pa.float64()}))


def rows_of(table: pa.Table) -> list[tuple[str, str, object, float]]:
    return list(zip(*(table.column(name).to_pylist()
                      for name in ("sensor_id", "location", "timestamp", "temperature")),
                    strict=True))


def test_parquet_timestamps_are_exact_utc_microseconds(url: str) -> None:
    table = export(url, "parquet", sensor_id="exp-n1,exp-n2,exp-s1")
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.column_names == ["sensor_id", "timestamp", "location", "temperature"]
    want = expected()
    assert rows_of(table) == [(s, loc, as_datetime(t), v) for s, loc, t, v in want]
    assert table.column("timestamp").cast(pa.int64()).to_pylist() == [micros(r[2]) for r in want]
    first = table.column("timestamp")[0].as_py()
    assert first.tzinfo is not None and first.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_from_is_inclusive_and_to_is_exclusive(url: str, fmt: str) -> None:
    start, end = "2026-11-25T10:00:00.500000Z", "2026-11-25T10:00:02.999999Z"
    table = export(url, fmt, sensor_id="exp-n1,exp-n2,exp-s1", **{"from": start, "to": end})
    got = rows_of(table)
    want = expected(start=start, end=end)
    # The reading at exactly `from` is in; the one at exactly `to` is out.
    assert want[-1][:2] == ("exp-s1", "exp-south") and micros(want[-1][2]) == micros(start)
    assert all(micros(r[2]) != micros(end) for r in want)
    if fmt == "parquet":
        assert got == [(s, loc, as_datetime(t), v) for s, loc, t, v in want]
    else:
        assert got == want  # the same RFC 3339 text as written: microseconds, Z
    # Epoch seconds give the same range.
    epoch = export(url, fmt, sensor_id="exp-n1,exp-n2,exp-s1",
                   **{"from": f"{micros(start) / 1e6:.6f}", "to": f"{micros(end) / 1e6:.6f}"})
    assert rows_of(epoch) == got


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_location_selects_that_locations_sensors_only(url: str, fmt: str) -> None:
    for location in ("exp-north", "exp-south"):
        got = rows_of(export(url, fmt, location=location))
        want = expected(location=location)
        assert got == ([(s, loc, as_datetime(t), v) for s, loc, t, v in want]
                       if fmt == "parquet" else want)
    nowhere = export(url, fmt, location="exp-nowhere")
    assert nowhere.num_rows == 0


def test_csv_timestamps_are_rfc3339_text(url: str) -> None:
    answer = get(f"{url}{api.EXPORT}?format=csv&sensor_id=exp-n1")
    assert answer.status == 200
    lines = answer.body.decode().splitlines()
    assert lines[0] == '"sensor_id","timestamp","location","temperature"'
    stamps = [line.split(",")[1].strip('"') for line in lines[1:]]
    assert stamps == ["2026-11-25T09:59:59.000007Z", "2026-11-25T10:00:00.250001Z",
                      "2026-11-25T10:00:01.000000Z", "2026-11-25T10:00:02.999999Z"]
