import math

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lithair_node.node.errors import InvalidBatch, InvalidReading, TooManyReadings
from lithair_node.node.ingest.checked_rows import checked_columns
from lithair_node.node.ingest.fast_rows import fast_columns
from lithair_node.node.ingest.validation import Limits, validate_batch

LIMITS = Limits(max_readings=100)


def reading(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"sensor_id": "s1", "timestamp": "2024-01-01T00:00:00Z",
                               "temperature": 20.5}
    base.update(fields)
    return base


def test_groups_sorts_and_drops_in_batch_duplicates() -> None:
    body = {"readings": [
        reading(sensor_id="b", timestamp=30, temperature=3.0),
        reading(sensor_id="a", timestamp=20, temperature=2.0, location="lab"),
        reading(sensor_id="b", timestamp=10, temperature=1.0, values={"humidity": 40}),
        reading(sensor_id="b", timestamp=30, temperature=99.0),  # repeat: first one wins
        reading(sensor_id=7, timestamp=5, temperature=0.5),
    ]}
    columns, received = validate_batch(body, LIMITS)
    assert received == 5
    assert columns.sensors == ["7", "a", "b"]
    assert columns.counts.tolist() == [1, 1, 2]
    assert columns.locations == [None, "lab", None]
    assert columns.ts.tolist() == [5_000_000, 20_000_000, 10_000_000, 30_000_000]
    assert columns.metrics == ["humidity", "temperature"]
    temperature = columns.values[1].tolist()
    assert temperature == [0.5, 2.0, 1.0, 3.0]
    humidity = columns.values[0]
    assert humidity[2] == 40.0 and np.isnan(humidity[[0, 1, 3]]).all()
    assert columns.in_batch_duplicates == 1


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (reading(temperature=math.nan), "temperature"),
        (reading(temperature=math.inf), "temperature"),
        (reading(temperature=True), "temperature"),
        (reading(temperature="20"), "temperature"),
        (reading(temperature=10**400), "temperature"),
        (reading(sensor_id=""), "sensor_id"),
        (reading(sensor_id="   "), "sensor_id"),
        (reading(sensor_id=None), "sensor_id"),
        (reading(sensor_id=1.5), "sensor_id"),
        (reading(sensor_id="x" * 200), "sensor_id"),
        (reading(timestamp="not a time"), "timestamp"),
        (reading(timestamp=False), "timestamp"),
        (reading(location=5), "location"),
        (reading(values=[1, 2]), "values"),
        (reading(values={"humidity": "wet"}), "humidity"),
        (reading(values={"temperature": 1.0}), "temperature"),  # given twice
        (reading(**{"bad name!": 1.0}), "bad name!"),
        ({"sensor_id": "s1", "timestamp": 1}, None),  # no metric at all
    ],
)
def test_bad_reading_names_index_and_field(bad: dict[str, object], field: str | None) -> None:
    body = {"readings": [reading(), bad]}
    with pytest.raises(InvalidReading) as caught:
        validate_batch(body, LIMITS)
    assert caught.value.reading == 1
    assert caught.value.field == field
    assert caught.value.status == 422


def test_missing_fields_are_named() -> None:
    for missing in ("sensor_id", "timestamp"):
        bad = reading()
        del bad[missing]
        with pytest.raises(InvalidReading) as caught:
            validate_batch({"readings": [bad]}, LIMITS)
        assert caught.value.field == missing


@pytest.mark.parametrize(
    "body", [[], "x", {"readings": "x"}, {"readings": []}, {"readings": [reading()], "extra": 1}]
)
def test_bad_body_shapes(body: object) -> None:
    with pytest.raises(InvalidBatch):
        validate_batch(body, LIMITS)


def test_non_object_reading() -> None:
    with pytest.raises(InvalidReading) as caught:
        validate_batch({"readings": [reading(), 5]}, LIMITS)
    assert caught.value.reading == 1


def test_too_many_readings_is_413() -> None:
    body = {"readings": [reading(timestamp=i) for i in range(101)]}
    with pytest.raises(TooManyReadings) as caught:
        validate_batch(body, LIMITS)
    assert caught.value.status == 413


def test_msgpack_timestamp_extension() -> None:
    stamp = msgpack.Timestamp(1079023939, 794238000)
    columns, _ = validate_batch({"readings": [reading(timestamp=stamp)]}, LIMITS)
    assert columns.ts.tolist() == [1079023939794238]


# -- the column-wise fast path must agree with the per-reading path ------------------------


_metric = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=64),
                    st.integers(-10**20, 10**20))
_reading = st.fixed_dictionaries(
    {"sensor_id": st.one_of(st.sampled_from(["a", "b", "c-1"]), st.integers(0, 5)),
     "timestamp": st.one_of(st.integers(0, 10**10), st.floats(0, 1e10),
                            st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.5+02:00"]))},
    optional={"location": st.sampled_from(["north", "south"]), "temperature": _metric,
              "humidity": _metric},
).filter(lambda r: "temperature" in r or "humidity" in r)


def _same(a: object, b: object) -> None:
    assert a.sensors == b.sensors and a.locations == b.locations  # type: ignore[attr-defined]
    assert a.metrics == b.metrics and a.in_batch_duplicates == b.in_batch_duplicates  # type: ignore[attr-defined]
    assert a.counts.tolist() == b.counts.tolist() and a.ts.tolist() == b.ts.tolist()  # type: ignore[attr-defined]
    assert a.values.tobytes() == b.values.tobytes()  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(st.lists(_reading, min_size=1, max_size=30))
def test_fast_path_equals_checked_path(readings: list[dict[str, object]]) -> None:
    fast = fast_columns(readings)
    checked = checked_columns(readings)
    if fast is not None:
        _same(fast, checked)


def test_fast_path_takes_the_usual_batch() -> None:
    readings = [{"sensor_id": f"s{i % 7}", "timestamp": 1.7e9 + i * 0.25, "location": "lab",
                 "temperature": 20.0 + i, "humidity": 40 + i} for i in range(200)]
    fast = fast_columns(readings)
    assert fast is not None
    _same(fast, checked_columns(readings))


@pytest.mark.parametrize(
    ("bad", "field"),
    [(reading(temperature=math.nan), "temperature"), (reading(temperature=True), "temperature"),
     (reading(temperature=2**1024 - 2**970), "temperature"), (reading(sensor_id=""), "sensor_id"),
     (reading(timestamp=-1.0), "timestamp"), (reading(timestamp=2**64), "timestamp"),
     (reading(location=""), "location"), (reading(**{"9x": 1.0}), "9x")],
)
def test_fast_path_hands_errors_to_the_checked_path(bad: dict[str, object], field: str) -> None:
    readings = [reading(timestamp=1.5), {**bad}]
    assert fast_columns(readings) is None
    with pytest.raises(InvalidReading) as caught:
        validate_batch({"readings": readings}, LIMITS)
    assert (caught.value.reading, caught.value.field) == (1, field)


# -- column-oriented bodies ------------------------------------------------------------------


def _as_columns(readings: list[dict[str, object]]) -> dict[str, object]:
    names: list[str] = []
    for r in readings:
        names += [k for k in r if k not in names]
    return {"columns": {k: [r.get(k) for r in readings] for k in names}}


@settings(max_examples=200, deadline=None)
@given(st.lists(_reading, min_size=1, max_size=30))
def test_columnar_body_gives_the_row_body_columns(readings: list[dict[str, object]]) -> None:
    rows, received = validate_batch({"readings": readings}, LIMITS)
    columns, received_c = validate_batch(_as_columns(readings), LIMITS)
    assert received == received_c == len(readings)
    _same(columns, rows)


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [("temperature", math.nan, "temperature"), ("temperature", True, "temperature"),
     ("temperature", "20", "temperature"), ("temperature", 10**400, "temperature"),
     ("sensor_id", "", "sensor_id"), ("sensor_id", None, "sensor_id"),
     ("timestamp", "yesterday", "timestamp"), ("location", 5, "location")],
)
def test_columnar_errors_name_the_reading_and_field(column: str, value: object, field: str) -> None:
    body = _as_columns([reading(location="lab"), reading(timestamp=2, location="lab"),
                        reading(timestamp=3, location="lab")])
    body["columns"][column][2] = value  # type: ignore[index]
    with pytest.raises(InvalidReading) as caught:
        validate_batch(body, LIMITS)
    assert (caught.value.reading, caught.value.field) == (2, field)


def test_columnar_nulls_are_absent_metrics_but_a_reading_needs_one() -> None:
    body = {"columns": {"sensor_id": ["a", "a"], "timestamp": [1, 2],
                        "t": [1.5, None], "h": [None, 40]}}
    columns, _ = validate_batch(body, LIMITS)
    assert columns.metrics == ["h", "t"]
    assert np.isnan(columns.values[0, 0]) and columns.values[0, 1] == 40.0
    body["columns"]["h"][1] = None  # type: ignore[index]
    body["columns"]["t"][1] = None  # type: ignore[index]
    with pytest.raises(InvalidReading) as caught:
        validate_batch(body, LIMITS)
    assert caught.value.reading == 1


@pytest.mark.parametrize(
    "columns",
    [{"timestamp": [1], "t": [1.0]}, {"sensor_id": ["a"], "timestamp": [1, 2], "t": [1.0]},
     {"sensor_id": "a", "timestamp": [1], "t": [1.0]}, {"sensor_id": [], "timestamp": [], "t": []},
     {"sensor_id": ["a"], "timestamp": [1]}, {"sensor_id": ["a"], "timestamp": [1], "bad name": [1]},
     {"sensor_id": ["a"], "timestamp": [1], "values": [{}]}, "not an object"],
)
def test_bad_columnar_bodies(columns: object) -> None:
    with pytest.raises((InvalidBatch, InvalidReading)) as caught:
        validate_batch({"columns": columns}, LIMITS)
    assert caught.value.status == 422


def test_columnar_too_many_readings_and_mixed_body() -> None:
    big = {"columns": {"sensor_id": ["a"] * 101, "timestamp": list(range(101)), "t": [1.0] * 101}}
    with pytest.raises(TooManyReadings):
        validate_batch(big, LIMITS)
    with pytest.raises(InvalidBatch):
        validate_batch({"columns": big["columns"], "readings": []}, LIMITS)
