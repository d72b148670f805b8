import pytest

from lithair_node.node.timestamps import MAX_US, format_timestamp, parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2004-03-11T16:52:19.794238Z", 1079023939794238),
        ("2004-03-11 16:52:19.794238+00:00", 1079023939794238),
        ("2004-03-11T18:52:19.794238+02:00", 1079023939794238),
        ("2004-03-11t16:52:19.7942389z", 1079023939794238),  # past-microsecond digits truncated
        ("2000-02-29T00:00:00Z", 951782400000000),
    ],
)
def test_rfc3339_to_microseconds(text: str, expected: int) -> None:
    assert parse_timestamp(text) == expected


def test_epoch_numbers_keep_microseconds() -> None:
    assert parse_timestamp(1079023939) == 1079023939_000000
    assert parse_timestamp(1079023939.794238) == 1079023939794238


@pytest.mark.parametrize(
    "bad",
    [
        "2004-03-11T16:52:19",  # no offset
        "2004-03-11",
        "2004-02-30T00:00:00Z",  # no such day
        "2004-03-11T25:00:00Z",
        "20040311T165219Z",
        "yesterday",
        "",
        True,
        None,
        float("nan"),
        float("inf"),
        -1,
        10**20,
        [2004],
    ],
)
def test_bad_timestamps_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(bad)


def test_format_round_trips() -> None:
    for micros in (0, 1079023939794238, MAX_US):
        assert parse_timestamp(format_timestamp(micros)) == micros
