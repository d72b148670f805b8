"""typed_rows.py accepts only what the usual path (decode_json + validate_batch) accepts, with
the very same columns; it is taken for the bodies it learnt; its cache stays bounded."""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

import numpy as np
import orjson
import pytest

from lithair_node.lab.bench.load_clients import BodyFactory
from lithair_node.machine.commands import BatchColumns
from lithair_node.node.errors import LithairError
from lithair_node.node.http.bodies import decode_json
from lithair_node.node.ingest.fields import Limits
from lithair_node.node.ingest.typed_rows import TypedRows
from lithair_node.node.ingest.validation import validate_batch

LIMITS = Limits(max_readings=50)
BASE_TS = 1_767_225_600


def _usual(raw: bytes) -> BatchColumns | LithairError:
    try:
        return validate_batch(decode_json(raw), LIMITS)[0]
    except LithairError as exc:
        return exc


def _same(a: BatchColumns, b: BatchColumns) -> bool:
    for item in dataclasses.fields(a):
        x, y = getattr(a, item.name), getattr(b, item.name)
        if isinstance(x, np.ndarray):
            if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                return False
        elif x != y:
            return False
    return True


def _reading(rng: random.Random, i: int) -> dict[str, Any]:
    return {"sensor_id": f"s-{rng.randrange(6)}", "timestamp": BASE_TS + i + rng.random(),
            "location": f"room {rng.randrange(3)}", "temperature": round(rng.uniform(-40, 60), 3),
            "humidity.rel": rng.randrange(100)}


def _text(readings: list[dict[str, Any]]) -> bytes:
    return json.dumps({"readings": readings}).encode()


_DROP = object()
_MARK = b"123456.789"


# Each mutation turns a valid body into one the usual path may refuse or read otherwise.
def _mutations(rng: random.Random, readings: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    text = _text(readings)
    one = rng.randrange(len(readings))

    def edited(**changes: Any) -> bytes:
        copy = [dict(r) for r in readings]
        for key, value in changes.items():
            if value is _DROP:
                del copy[one][key]
            else:
                copy[one][key] = value
        return _text(copy)

    swapped = [dict(reversed(list(r.items()))) for r in readings]
    marked = edited(temperature=123456.789)
    return [
        ("valid", text),
        ("key order", _text(swapped)),
        ("a key twice, same value", text.replace(b'"temperature"', b'"temperature": 1, "temperature"', 1)),
        ("a key twice, other value",
         text.replace(b'"humidity.rel": ', b'"humidity.rel": 5, "humidity.rel": ', 1)),
        ("an id twice", text.replace(b'"sensor_id"', b'"sensor_id": "a:b", "sensor_id"', 1)),
        ("an escaped colon", text.replace(b'"s-', b'"\\u003a-', 1)),
        ("colon in an id", edited(sensor_id="gw:1/s:2")),
        ("bool metric", edited(temperature=True)),
        ("null metric", edited(temperature=None)),
        ("null location", edited(location=None)),
        ("empty location", edited(location="")),
        ("int timestamps", _text([{**r, "timestamp": BASE_TS + i} for i, r in enumerate(readings)])),
        ("one int timestamp", edited(timestamp=BASE_TS)),
        ("rfc3339 timestamps", _text([{**r, "timestamp": f"2026-01-01T00:00:{i % 60:02d}.5Z"}
                                      for i, r in enumerate(readings)])),
        ("bad rfc3339", edited(timestamp="2026-13-01T00:00:00Z")),
        ("timestamp out of range", edited(timestamp=1e13)),
        ("negative timestamp", edited(timestamp=-5.0)),
        ("big int metric", edited(temperature=2**70)),
        ("int past float64", marked.replace(_MARK, b"1" + b"0" * 309)),
        ("int at float64's edge", marked.replace(_MARK, str(int(1.7976931348623157e308)).encode())),
        ("huge float literal", marked.replace(_MARK, b"1e400")),
        ("NaN literal", marked.replace(_MARK, b"NaN")),
        ("minus zero", edited(temperature=-0.0)),
        ("int minus zero", marked.replace(_MARK, b"-0")),
        ("int metric", marked.replace(_MARK, b"17")),
        ("exponent metric", marked.replace(_MARK, b"-12.5E-3")),
        ("long digits", marked.replace(_MARK, b"0.1000000000000000055511151231257827021181583404541015625")),
        ("nested values", edited(values={"pressure": 1.0})),
        ("extra field", edited(pressure=1013.2)),
        ("missing field", edited(location=_DROP)),
        ("missing metric", edited(temperature=_DROP)),
        ("int sensor id", edited(sensor_id=17)),
        ("long sensor id", edited(sensor_id="x" * 129)),
        ("blank sensor id", edited(sensor_id="   ")),
        ("control char id", edited(sensor_id="a\u0001")),
        ("unicode id", edited(sensor_id="capteur-é-☃")),
        ("bad metric name", edited(**{"9lives": 1.0})),
        ("top-level extra", text[:-1] + b', "more": 1}'),
        ("top-level twice", b'{"readings": [], ' + text[1:]),
        ("not a list", b'{"readings": {"a": 1}}'),
        ("empty", b'{"readings": []}'),
        ("too many", _text([_reading(rng, i) for i in range(LIMITS.max_readings + 1)])),
        ("BOM", b"\xef\xbb\xbf" + text),
        ("whitespace", b"\n " + text.replace(b", ", b" ,\t") + b" \n"),
        ("trailing garbage", text + b"x"),
        ("reading not an object", text.replace(b"[{", b"[1, {", 1)),
        ("duplicate readings", _text(readings + readings[:3])),
    ]


@pytest.mark.parametrize("seed", range(30))
def test_typed_columns_are_the_usual_ones_or_none(seed: int) -> None:
    rng = random.Random(seed)
    readings = [_reading(rng, i) for i in range(rng.randrange(1, LIMITS.max_readings))]
    taken = 0
    for name, raw in _mutations(rng, readings):
        typed = TypedRows()
        typed.learn(orjson.loads(_text(readings)))
        usual = _usual(raw)
        found = typed.columns(raw, LIMITS)
        if found is None:
            continue
        taken += 1
        assert not isinstance(usual, LithairError), (name, usual)
        assert _same(found[0], usual), name
        assert found[1] == len(orjson.loads(raw.removeprefix(b"\xef\xbb\xbf"))["readings"])
    # The valid body and its harmless variants are taken: the path is really used.
    assert taken >= 5


def test_the_load_clients_bodies_are_taken_and_equal() -> None:
    factory = BodyFactory(0, 250, 1000)
    typed = TypedRows()
    limits = Limits()
    typed.learn(orjson.loads(factory.body(0)))
    for number in range(1, 6):
        raw = factory.body(number)
        found = typed.columns(raw, limits)
        assert found is not None
        assert _same(found[0], validate_batch(decode_json(raw), limits)[0])


def test_a_shape_that_keeps_missing_accepted_bodies_is_dropped_for_good() -> None:
    rng = random.Random(1)
    readings = [_reading(rng, i) for i in range(10)]
    body = _text(readings)
    typed = TypedRows()
    assert typed.columns(body, LIMITS) is None  # nothing learnt yet
    typed.learn(orjson.loads(body))
    for _ in range(2 * TypedRows.MAX_MISSES):  # refused bodies do not count
        assert typed.columns(body.replace(b'"temperature": ', b'"temperature": null, "t": ', 1),
                             LIMITS) is None
    assert typed.columns(body, LIMITS) is not None
    mixed = orjson.loads(_text([readings[0], *({**r, "pressure": 1.0} for r in readings[1:])]))
    for _ in range(TypedRows.MAX_MISSES):  # the usual path accepts it; the typed one cannot
        assert typed.columns(orjson.dumps(mixed), LIMITS) is None
        typed.learn(mixed)
    assert typed.columns(body, LIMITS) is None  # dropped
    typed.learn(orjson.loads(body))  # and not learnt again
    assert typed.columns(body, LIMITS) is None


def test_at_most_max_shapes_are_kept() -> None:
    typed = TypedRows()
    for k in range(TypedRows.MAX_SHAPES + 3):
        typed.learn({"readings": [{"sensor_id": "a", "timestamp": 1.5, f"m{k}": 1.0}]})
    assert len(typed._shapes) == TypedRows.MAX_SHAPES
    newest = b'{"readings": [{"sensor_id": "a", "timestamp": 2.5, "m%d": 3}]}' % (TypedRows.MAX_SHAPES + 2)
    assert typed.columns(newest, LIMITS) is not None
    oldest = b'{"readings": [{"sensor_id": "a", "timestamp": 2.5, "m0": 3}]}'
    assert typed.columns(oldest, LIMITS) is None


def test_metrics_named_like_the_struct_attributes_keep_their_own_values() -> None:
    body = {"readings": [{"sensor_id": "a", "timestamp": 10.5 + i, "f1": 1.0 + i, "f0": -2.0 * i,
                          "f3": 7} for i in range(5)]}
    typed = TypedRows()
    typed.learn(body)
    raw = orjson.dumps(body)
    found = typed.columns(raw, LIMITS)
    assert found is not None
    assert _same(found[0], validate_batch(decode_json(raw), LIMITS)[0])
    assert found[0].metrics == ["f0", "f1", "f3"]
    assert found[0].values[1].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
