"""Every timestamp validation accepts can be formatted and read back: the bound is checked in
integer microseconds after rounding, in every path (fast rows, checked rows, columns,
msgpack Timestamp, query parameters); digits are ASCII; a leap second is the next second."""

from __future__ import annotations

import msgpack
import pytest
from multidict import MultiDict

from lithair_node.node.errors import InvalidParameter, InvalidReading
from lithair_node.node.http.params import time_param, timestamp_cursor
from lithair_node.node.ingest.validation import Limits, validate_batch
from lithair_node.node.timestamps import MAX_US, format_timestamp, parse_timestamp

LIMITS = Limits(max_readings=100)
# Each is just past 9999-12-31T23:59:59.999999Z once rounded to the microsecond.
PAST_THE_END = [253402300800.0, 253402300800, 253402300799.99999, 253402300799.999999,
                "9999-12-31T23:59:60Z", "9999-12-31T23:00:00-01:00",
                msgpack.Timestamp(253402300800, 0)]
# Digits past the microsecond are truncated (strings, msgpack), numbers rounded;
# 253402300799.99997 is the float just below 253402300800.0.
LAST = [253402300799.99997, 253402300799, "9999-12-31T23:59:59.999999999Z",
        msgpack.Timestamp(253402300799, 999999999)]


def _bodies(stamp: object) -> list[dict[str, object]]:
    """The same reading as a fast-path row, a checked-path row and a column body."""
    return [{"readings": [{"sensor_id": "s", "timestamp": stamp, "t": 1.0}]},
            {"readings": [{"sensor_id": "s", "timestamp": stamp, "values": {"t": 1.0}}]},
            {"columns": {"sensor_id": ["s"], "timestamp": [stamp], "t": [1.0]}}]


@pytest.mark.parametrize("stamp", PAST_THE_END, ids=repr)
def test_past_the_last_microsecond_is_refused_in_every_path(stamp: object) -> None:
    for body in _bodies(stamp):
        with pytest.raises(InvalidReading) as caught:
            validate_batch(body, LIMITS)
        assert caught.value.field == "timestamp" and "out of range" in caught.value.message


@pytest.mark.parametrize("stamp", LAST, ids=repr)
def test_the_last_microseconds_are_accepted_and_format(stamp: object) -> None:
    for body in _bodies(stamp):
        columns, _ = validate_batch(body, LIMITS)
        micros = int(columns.ts[0])
        assert micros <= MAX_US
        assert parse_timestamp(format_timestamp(micros)) == micros


@pytest.mark.parametrize("stamp", [-0.0, 0, -4e-7, "1970-01-01T00:00:00Z"], ids=repr)
def test_the_first_microsecond_is_accepted_in_every_path(stamp: object) -> None:
    for body in _bodies(stamp):
        assert validate_batch(body, LIMITS)[0].ts.tolist() == [0]


@pytest.mark.parametrize("stamp", [-6e-7, -1, "1969-12-31T23:59:59.999999Z"], ids=repr)
def test_before_the_epoch_is_refused_in_every_path(stamp: object) -> None:
    for body in _bodies(stamp):
        with pytest.raises(InvalidReading):
            validate_batch(body, LIMITS)


@pytest.mark.parametrize("name", ["from", "to", "since"])
@pytest.mark.parametrize("text", ["253402300800", "253402300800.0", "253402300799.9999999",
                                  "9999-12-31T23:59:60Z", "1" * 5000, "1" * 30])
def test_query_times_past_the_end_are_400(name: str, text: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        time_param(MultiDict({name: text}), name, 0)
    assert caught.value.field == name


def test_query_time_at_the_end_is_accepted() -> None:
    assert time_param(MultiDict({"from": "9999-12-31T23:59:59.999999Z"}), "from", 0) == MAX_US
    assert time_param(MultiDict({"to": "253402300799"}), "to", 0) == MAX_US - 999_999


@pytest.mark.parametrize("text", ["2024-01-01T00:00:00\uff10Z", "\uff12024-01-01T00:00:00Z",
                                  "2024-01-01T00:00:0\u0660Z", "2024-01-01T00:00:00.\u00b2Z",
                                  "2024-01-01T00:00:00+0\u0661:00"])
def test_timestamp_digits_must_be_ascii(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_timestamp(text)
    with pytest.raises(InvalidParameter):
        time_param(MultiDict({"from": text}), "from", 0)


@pytest.mark.parametrize("text", ["\u00b2", "1\u00b2", "\u0661", "\uff11", "-1", "1e3", "1" * 5000])
def test_cursor_digits_must_be_ascii(text: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        timestamp_cursor(text, 0, MAX_US + 1)
    assert caught.value.field == "cursor"


def test_leap_second_is_the_first_second_of_the_next_minute() -> None:
    assert (parse_timestamp("2016-12-31T23:59:60Z")
            == parse_timestamp("2017-01-01T00:00:00Z"))
    assert (parse_timestamp("2016-12-31T23:59:60.5+00:00")
            == parse_timestamp("2017-01-01T00:00:00.5Z"))
    with pytest.raises(ValueError):
        parse_timestamp("2016-12-31T23:59:61Z")


def test_a_huge_finite_float_is_out_of_range_not_an_overflow() -> None:
    """Found by schemathesis: 1e308 seconds times 10^6 is infinity, and round() raised."""
    for seconds in (1e308, -1e308, 1.7e308):
        with pytest.raises(ValueError, match="out of range"):
            parse_timestamp(seconds)
