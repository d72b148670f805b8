"""JSON bodies: a key given twice is a 422 naming it, a UTF-8 BOM is ignored (RFC 8259 8.1),
and an undecodable body's message says what is actually wrong; an error answer (built once
per distinct error) is the one JSON shape with its status and Retry-After."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lithair_node.lab.bench.load_clients import BodyFactory
from lithair_node.node.errors import BadRequest, InvalidBatch, InvalidJson, NoLeader, Overloaded
from lithair_node.node.http.bodies import NonStandardJson, decode_json, error_response
from lithair_node.node.ingest.duplicate_keys import count_colons

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


@given(st.binary(max_size=300) | st.text(alphabet=':"{}ab \\', max_size=300).map(str.encode))
def test_colons_are_counted_as_bytes_count_does(raw: bytes) -> None:
    assert count_colons(raw) == raw.count(b":")


def test_an_error_answer_is_the_one_shape_however_often_it_is_given() -> None:
    first = error_response(NoLeader("no leader known", retry_after=1))
    again = error_response(NoLeader("no leader known", retry_after=1))
    other = error_response(Overloaded("behind by 0.61 s", retry_after=2.4))
    for answer, status, code, message, retry in ((first, 503, "no_leader", "no leader known", "1"),
                                                 (again, 503, "no_leader", "no leader known", "1"),
                                                 (other, 429, "overloaded", "behind by 0.61 s", "2")):
        assert answer.status == status and answer.headers["Retry-After"] == retry
        assert answer.content_type == "application/json"
        assert orjson.loads(answer.body) == {"error": {"code": code, "message": message,
                                                       "reading": None, "field": None}}
    named = error_response(InvalidBatch("bad", field="readings", reading=3))
    assert "Retry-After" not in named.headers and named.status == 422
    assert orjson.loads(named.body)["error"] == {"code": "invalid_batch", "message": "bad",
                                                 "reading": 3, "field": "readings"}
    # An instance's own status wins (aiohttp's errors are mapped onto BadRequest with theirs).
    odd = BadRequest("bad")
    odd.status = 431
    assert error_response(odd).status == 431 and error_response(BadRequest("bad")).status == 400
