"""JSON bodies: a key given twice is a 422 naming it, a UTF-8 BOM is ignored (RFC 8259 8.1),
and an undecodable body's message says what is actually wrong."""

from __future__ import annotations

import orjson
import pytest

from lithair_node.lab.bench.load_clients import BodyFactory
from lithair_node.node.errors import InvalidBatch, InvalidJson
from lithair_node.node.http.bodies import NonStandardJson, decode_json

DUPLICATES = [
    (b'{"readings": [{"sensor_id": "a", "timestamp": 1, "t": 1, "t": 2}]}', "t"),
    (b'{"readings": [], "readings": []}', "readings"),
    (b'{"readings": [{"sensor_id": "a", "timestamp": "2024-01-01T00:00:00Z",'
     b' "values": {"t": 1, "t": 1}}]}', "t"),
    (b'{"columns": {"sensor_id": ["a"], "timestamp": [1], "t": [1], "t" : [2]}}', "t"),
    (b'{"a": {"b": {"c": 1, "c": 2}}}', "c"),
    (b'[[{"k": 1, "k": 1}]]', "k"),
    # the dropped value carries as many colons as an escaped one adds back
    (b'{"x": "\\u003a", "k": ":", "k": 1}', "k"),
    (b'{"\\u0074": 1, "t": 2}', "t"),
    (b'{"n": 123456789012345678901234567890, "n": 1}', "n"),
]


@pytest.mark.parametrize(("raw", "key"), DUPLICATES)
def test_a_key_given_twice_is_refused_naming_it(raw: bytes, key: str) -> None:
    with pytest.raises(InvalidBatch) as caught:
        decode_json(raw)
    assert caught.value.status == 422 and caught.value.field == key
    assert "twice" in caught.value.message


@pytest.mark.parametrize("raw", [
    b'{"a": "x:y", "b": {"c": "::"}, "d": [{"e": ":"}], "f": "\\u003a"}',
    b'{"n": 123456789012345678901234567890}',
    b' { "a" : 1 , "b" :\n2 } ',
    b'[{"a": 1}, {"a": 1}]',  # equal keys in different objects are fine
])
def test_unique_keys_decode(raw: bytes) -> None:
    assert decode_json(raw) == orjson.loads(raw)


def test_the_usual_batch_body_decodes() -> None:
    raw = BodyFactory(0, 10, 1000).body(0)
    assert decode_json(raw) == orjson.loads(raw)


def test_a_utf8_bom_is_ignored() -> None:
    assert decode_json(b'\xef\xbb\xbf{"readings": []}') == {"readings": []}


@pytest.mark.parametrize("raw", [b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf{}", b"{\"a\": 1,}",
                                 b'{"a": "\\ud800"}', b"\xff"])
def test_undecodable_bodies_do_not_blame_nan(raw: bytes) -> None:
    with pytest.raises(InvalidJson) as caught:
        decode_json(raw)
    assert not isinstance(caught.value, NonStandardJson)
    assert "NaN" not in caught.value.message


@pytest.mark.parametrize(("raw", "hint"), [(b'{"t": NaN}', "NaN and Infinity"),
                                           (b'{"t": -Infinity}', "NaN and Infinity"),
                                           (b'{"t": 1e400}', "float64 range")])
def test_non_standard_numbers_are_named(raw: bytes, hint: str) -> None:
    with pytest.raises(NonStandardJson) as caught:
        decode_json(raw)
    assert hint in caught.value.message
