import math

import msgpack
import numpy as np
import pytest

from lithair_node.errors import InvalidBatch, InvalidReading, TooManyReadings
from lithair_node.validation import Limits, validate_batch

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
