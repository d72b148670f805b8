"""Refuse a JSON object that names a key twice (orjson, like most parsers, keeps the last).

Every key in the raw text is followed by one colon, so the raw colon count bounds the
number of keys from above. Three tiers, cheapest first:
1. the keys the decoded body visibly holds (objects up to two levels deep) equal the raw
   colons: no key was lost (the common batch body, one C-level count);
2. else re-encode: orjson writes every kept string with its colons unchanged, so fewer
   colons than the raw text means an object lost a key (exact unless the text spells a
   colon as an escape, `\\u003a`);
3. else the exact parse, which names the key.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import numpy as np
import orjson

from lithair_node.node.errors import InvalidBatch


def check_unique_keys(raw: bytes, decoded: Any) -> None:
    """Raise InvalidBatch (422) naming the first key given twice in one object of `raw`."""
    colons = count_colons(raw)
    if _visible_keys(decoded) == colons:
        return
    if b"\\u003" not in raw:
        try:
            if count_colons(orjson.dumps(decoded)) == colons:
                return
        except (orjson.JSONEncodeError, TypeError):
            pass  # e.g. an integer beyond 64 bits: decide with the exact parse
    json.loads(raw, object_pairs_hook=_unique_object, parse_constant=float)


def count_colons(raw: bytes) -> int:
    """`raw.count(b":")`, by one numpy comparison: bytes.count walks a body of thousands of
    colons match by match (~200 us for a 1,000-reading batch of 175 KB, numpy ~10 us)."""
    return int(np.count_nonzero(np.frombuffer(raw, dtype=np.uint8) == _COLON))


_COLON = ord(":")


def _visible_keys(body: Any) -> int:
    """Keys of the top object and of the objects right inside it: never more than the body
    holds, so equality with the raw colons proves none was dropped."""
    if type(body) is not dict:
        return -1
    keys = len(body)
    for value in body.values():
        kind = type(value)
        if kind is dict:
            keys += len(value)
        elif kind is list:
            with contextlib.suppress(TypeError):  # unless all are objects
                keys += sum(map(dict.__len__, value))
    return keys


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidBatch(f"key {key!r} is given twice in one JSON object", field=key)
            seen.add(key)
    return found
