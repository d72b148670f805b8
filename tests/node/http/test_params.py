"""Query parameters: ASCII integers only, and lists with an unambiguous repeated form."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from lithair_node.node.errors import InvalidParameter
from lithair_node.node.http.params import duration_param, int_param, list_param

NON_ASCII_DIGITS = ["\u00b2", "1\u00b2", "\u0661\u0660", "\uff11\uff10", "\u09e7", "\U0001d7d9"]


@pytest.mark.parametrize("text", [*NON_ASCII_DIGITS, "1" * 5000, "-1", "+1", " 1", "1.0", "0x1"])
def test_integers_are_ascii_digits(text: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        int_param(MultiDict({"limit": text}), "limit", 100, 1, 1000)
    assert caught.value.field == "limit"


@pytest.mark.parametrize("text", [f"{d}h" for d in NON_ASCII_DIGITS] + ["9" * 5000 + "s", "1h\u00b2m"])
def test_durations_are_ascii_digits(text: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        duration_param(MultiDict({"every": text}), "every")
    assert caught.value.field == "every"


def test_comma_form_given_once_is_split_and_stripped() -> None:
    assert list_param(MultiDict({"sensor_id": " a, b ,a,,"}), "sensor_id") == ("a", "b")


@pytest.mark.parametrize("ids", [["a,b", " c "], ["x", "y, z", "%2C", "{q}"], [" ", "a"]])
def test_repeated_values_are_taken_verbatim(ids: list[str]) -> None:
    query = MultiDict([("sensor_id", value) for value in ids])
    assert list_param(query, "sensor_id") == tuple(ids)


def test_repetition_selects_one_id_holding_a_comma() -> None:
    query = MultiDict([("sensor_id", "a,b"), ("sensor_id", "")])
    assert list_param(query, "sensor_id") == ("a,b",)
    assert list_param(MultiDict([("sensor_id", "a,b"), ("sensor_id", "a,b")]), "sensor_id") == ("a,b",)


def test_repeated_values_are_still_checked_against_the_allowed_ones() -> None:
    allowed = ("mean", "max")
    assert list_param(MultiDict([("fn", "max"), ("fn", "mean")]), "fn", allowed) == ("max", "mean")
    with pytest.raises(InvalidParameter):
        list_param(MultiDict([("fn", "max"), ("fn", "mean,max")]), "fn", allowed)
