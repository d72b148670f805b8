"""Line protocol -> readings (the mapping rule), and InfluxDB-shaped errors."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from lithair_node.machine.commands import BatchColumns
from lithair_node.node.errors import IdempotencyKeyReused, NoLeader, Overloaded, TooManyReadings
from lithair_node.node.ingest.influx_errors import influx_v1_error, influx_v2_error
from lithair_node.node.ingest.line_protocol import LineProtocolError
from lithair_node.node.ingest.line_protocol_readings import (
    LineProtocolMapping,
    MetricNaming,
    line_protocol_batch,
)
from lithair_node.node.ingest.validation import Limits, validate_batch

T0 = 1_700_000_000_000_000_000  # ns
RECEIVED_NS = T0 + 123_456_789


def batch(body: str, mapping: LineProtocolMapping | None = None, unit_ns: int = 1,
          max_readings: int = 10_000) -> BatchColumns:
    columns, _ = line_protocol_batch(body, unit_ns=unit_ns, received_ns=RECEIVED_NS,
                                     mapping=mapping or LineProtocolMapping(),
                                     limits=Limits(max_readings=max_readings))
    return columns


def readings(columns: BatchColumns) -> list[tuple[str, int, dict[str, float]]]:
    sensors = np.repeat(columns.sensors, columns.counts.astype(np.int64)).tolist()
    return [(sensor, int(ts), {m: v for m, v in zip(columns.metrics, columns.values[:, i].tolist(),
                                                    strict=True) if v == v})
            for i, (sensor, ts) in enumerate(zip(sensors, columns.ts.tolist(), strict=True))]


def refused(body: str, mapping: LineProtocolMapping | None = None) -> LineProtocolError:
    with pytest.raises(LineProtocolError) as caught:
        batch(body, mapping)
    assert caught.value.status == 400
    return caught.value


def test_the_same_readings_as_the_json_batch() -> None:
    lines = "\n".join(f"weather,sensor_id=m{i % 3},location=lab{i % 3} temperature={20 + i / 8},"
                      f"count={i}i,ok={'true' if i % 2 else 'false'} {T0 + i * 10**9}" for i in range(12))
    json_body = {"readings": [
        {"sensor_id": f"m{i % 3}", "location": f"lab{i % 3}", "timestamp": 1_700_000_000 + i,
         "temperature": 20 + i / 8, "count": i, "ok": float(i % 2)} for i in range(12)]}
    ours, expected = batch(lines), validate_batch(orjson.loads(orjson.dumps(json_body)), Limits())[0]
    assert (ours.sensors, ours.locations, ours.metrics) == (expected.sensors, expected.locations,
                                                            expected.metrics)
    assert ours.counts.tolist() == expected.counts.tolist() and ours.ts.tolist() == expected.ts.tolist()
    assert np.array_equal(ours.values, expected.values, equal_nan=True)


@pytest.mark.parametrize(("tags", "sensor"), [
    ("sensor_id=s,mote_id=m,device_id=d,host=h", "s"), ("mote_id=m,device_id=d,host=h", "m"),
    ("device_id=d,host=h", "d"), ("host=h", "h"),
])
def test_the_sensor_tag_and_its_fallbacks(tags: str, sensor: str) -> None:
    assert batch(f"m,{tags} v=1 {T0}").sensors == [sensor]


def test_a_configured_sensor_tag_comes_first() -> None:
    mapping = LineProtocolMapping.with_sensor_tag("node")
    assert mapping.sensor_tags == ("node", "sensor_id", "mote_id", "device_id", "host")
    assert batch(f"m,sensor_id=s,node=n v=1 {T0}", mapping).sensors == ["n"]


def test_a_point_without_a_sensor_tag_is_refused() -> None:
    error = refused(f"m,host=h v=1 {T0}\nm,region=eu v=1 {T0}")
    assert error.line == 2
    assert "no sensor tag: give one of sensor_id, mote_id, device_id, host" in error.message


def test_location_and_other_tags() -> None:
    columns = batch(f"m,host=h,location=roof,rack=r1 v=1 {T0}")
    assert (columns.locations, columns.metrics) == (["roof"], ["v"])


def test_booleans_are_one_and_zero_and_integers_are_numbers() -> None:
    assert readings(batch(f"m,host=h a=true,b=F,c=-3i,d=7u {T0}")) == [
        ("h", T0 // 1000, {"a": 1.0, "b": 0.0, "c": -3.0, "d": 7.0})]


def test_a_string_field_is_refused_naming_its_line() -> None:
    error = refused(f'm,host=h v=1 {T0}\nm,host=h v=1 {T0 + 1}\nm,host=h s="x",v=1 {T0 + 2}')
    assert error.line == 3 and error.message.startswith("line 3: field 's' is a string")


@pytest.mark.parametrize("name", ["sensor_id", "timestamp", "location", "values"])
def test_reserved_field_names_are_refused(name: str) -> None:
    assert refused(f"m,host=h {name}=1 {T0}").message.startswith(f"line 1: field {name!r} is reserved")


def test_an_invalid_metric_name_names_the_line_that_gives_it() -> None:
    error = refused(f"m,host=h v=1 {T0}\nm,host=h v=1,bad!=2 {T0 + 10**9}")
    assert error.line == 2 and "metric name 'bad!'" in error.message


def test_an_invalid_sensor_id_names_its_line() -> None:
    error = refused(f"m,host=ok v=1 {T0}\nm,host={'x' * 200} v=1 {T0}")
    assert error.line == 2 and "sensor_id" in error.message


@pytest.mark.parametrize("stamp", ["-1", "-5000000000"])
def test_timestamps_before_1970_are_refused(stamp: str) -> None:
    error = refused(f"m,host=h v=1 {T0}\nm,host=h v=1 {stamp}")
    assert error.line == 2 and "timestamp out of range (1970 to 9999)" in error.message


def test_timestamps_are_truncated_to_the_microsecond_in_any_precision() -> None:
    assert batch(f"m,host=h v=1 {T0 + 1999}").ts.tolist() == [T0 // 1000 + 1]
    assert batch("m,host=h v=1 1700000000", unit_ns=10**9).ts.tolist() == [T0 // 1000]
    assert batch("m,host=h v=1 472222", unit_ns=3600 * 10**9).ts.tolist() == [472222 * 3600 * 10**6]
    assert batch("m,host=h v=1").ts.tolist() == [RECEIVED_NS // 1000]


def test_far_future_microseconds_survive_exactly() -> None:
    stamp_us = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
    assert batch(f"m,host=h v=1 {stamp_us}", unit_ns=1000).ts.tolist() == [stamp_us]


def test_points_of_one_sensor_at_one_instant_make_one_reading() -> None:
    body = (f"cpu,host=a usage=1 {T0}\nmem,host=a used=2 {T0}\nmem,host=b used=3 {T0}\n"
            f"mem,host=a used=9,free=4 {T0}")  # a repeat: first write wins for `used`
    assert readings(batch(body)) == [("a", T0 // 1000, {"free": 4.0, "usage": 1.0, "used": 2.0}),
                                     ("b", T0 // 1000, {"used": 3.0})]


def test_one_field_from_two_measurements_is_refused_in_field_naming() -> None:
    error = refused(f"mem,host=a used=1 {T0}\ndisk,host=a used=2 {T0}")
    assert error.line == 2 and "name metrics measurement.field" in error.message


def test_measurement_field_naming_keeps_both() -> None:
    mapping = LineProtocolMapping(naming=MetricNaming.MEASUREMENT_FIELD)
    body = f"mem,host=a used=1 {T0}\ndisk,host=a used=2 {T0}\nmem,host=b used=3,free=1 {T0}"
    assert readings(batch(body, mapping)) == [("a", T0 // 1000, {"disk.used": 2.0, "mem.used": 1.0}),
                                              ("b", T0 // 1000, {"mem.free": 1.0, "mem.used": 3.0})]


def test_more_metrics_in_a_batch_than_one_reading_may_carry() -> None:
    body = "\n".join(f"m,host=h{i} f{i}=1 {T0}" for i in range(100))  # 100 metrics, one each
    assert len(batch(body).metrics) == 100


def test_the_reading_limit_applies() -> None:
    with pytest.raises(TooManyReadings):
        batch("\n".join(f"m,host=h v=1 {T0 + i}" for i in range(11)), max_readings=10)


# -- rendering, as InfluxDB answers -------------------------------------------------------


def test_a_parse_error_as_v2_and_v1_render_it() -> None:
    error = refused("m,host=h v=1\nm,host=h v=")
    v2, v1 = influx_v2_error(error), influx_v1_error(error)
    assert (v2.status, orjson.loads(v2.body)) == (400, {"code": "invalid", "message": error.message})
    assert error.message.startswith("line 2: missing field value")
    assert (v1.status, orjson.loads(v1.body)) == (400, {"error": error.message})
    assert v1.headers["X-Influxdb-Error"] == error.message
    assert "Retry-After" not in v2.headers


@pytest.mark.parametrize(("error", "status", "code"), [
    (TooManyReadings("too many"), 413, "request too large"),
    (IdempotencyKeyReused("other body"), 422, "unprocessable entity"),
    (Overloaded("behind", retry_after=2), 429, "too many requests"),
    (NoLeader("no leader"), 503, "unavailable"),
])
def test_statuses_codes_and_retry_after(error: Exception, status: int, code: str) -> None:
    v2 = influx_v2_error(error)  # type: ignore[arg-type]
    assert (v2.status, orjson.loads(v2.body)["code"]) == (status, code)
    if status in (429, 503):
        assert v2.headers["Retry-After"] == ("2" if status == 429 else "1")
        assert influx_v1_error(error).headers["Retry-After"] == v2.headers["Retry-After"]  # type: ignore[arg-type]


def test_a_v1_header_never_carries_a_line_break() -> None:
    error = LineProtocolError("one\ntwo")
    assert influx_v1_error(error).headers["X-Influxdb-Error"] == "one two"
