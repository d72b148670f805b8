"""Through a real node: once a shape of reading is learnt (node/ingest/typed_rows.py), bodies
of that shape are stored exactly as sent, and its bad bodies get the same 4xx as before."""

from __future__ import annotations

import json

from lithair_node import api
from lithair_node.lab.local_cluster import LocalCluster
from tests.http_helpers import get, post_raw
from tests.node.http.test_bad_input import assert_error

SENSOR = "typed-1"


def _body(first: int, count: int, **extra: object) -> dict[str, object]:
    return {"readings": [{"sensor_id": SENSOR, "timestamp": 1_767_225_600 + first + i + 0.25,
                          "location": "lab", "temp": 20 + i / 8, "count": first + i, **extra}
                         for i in range(count)]}


def _post(url: str, raw: bytes):  # type: ignore[no-untyped-def]
    return post_raw(url, raw, api.JSON_TYPE)


def test_learnt_shapes_store_exactly_and_refuse_what_the_usual_path_refuses(cluster: LocalCluster) -> None:
    url = cluster.urls[0]
    assert _post(url, json.dumps(_body(0, 50)).encode()).status == 200  # learnt here
    swapped = {"readings": [dict(reversed(list(r.items()))) for r in _body(50, 50)["readings"]]}
    assert _post(url, json.dumps(swapped).encode()).status == 200  # the typed path
    twice = json.dumps(_body(100, 3)).encode().replace(b'"temp": ', b'"temp": 1, "temp": ', 1)
    assert_error(_post(url, twice), 422, "invalid_batch", "temp")
    null = json.dumps(_body(100, 3)).encode().replace(b'"temp": 20.0', b'"temp": null', 1)
    assert_error(_post(url, null), 422, "invalid_reading", "temp", reading=0)
    answer = get(f"{url}{api.sensor_path(api.SENSOR_READINGS, SENSOR)}?limit=1000&consistency=linearizable")
    assert answer.status == 200, answer
    readings = answer.body["readings"]
    assert [r["timestamp_us"] for r in readings] == [
        (1_767_225_600 + i) * 1_000_000 + 250_000 for i in range(100)]
    assert [r["values"] for r in readings] == [{"count": float(i), "temp": 20 + (i % 50) / 8}
                                               for i in range(100)]
    converged = cluster.wait_converged()
    assert len({s["state_digest"] for s in converged}) == 1
