"""What ClusterClient puts on the wire: JSON rows by default (a node's typed decoder takes
them in one pass), numpy scalars included; msgpack when asked."""

from __future__ import annotations

import msgpack
import numpy as np
import orjson

from lithair_node import api
from lithair_node.client.cluster_client import ClusterClient

READINGS = [{"sensor_id": "s1", "timestamp": 5, "location": "lab", "temperature": 20.5},
            {"sensor_id": "s2", "timestamp": np.int64(6), "humidity": np.float64(40.25),
             "light": np.float32(2.5)}]


def test_bodies_are_json_rows_by_default_numpy_scalars_included() -> None:
    body, content_type = ClusterClient(["http://127.0.0.1:1"]).encode(READINGS)
    assert content_type == api.JSON_TYPE
    assert orjson.loads(body) == {"readings": [
        READINGS[0], {"sensor_id": "s2", "timestamp": 6, "humidity": 40.25, "light": 2.5}]}


def test_msgpack_when_asked() -> None:
    body, content_type = ClusterClient(["http://127.0.0.1:1"], encoding="msgpack").encode(READINGS[:1])
    assert content_type == api.MSGPACK_TYPE
    assert msgpack.unpackb(body) == {"readings": READINGS[:1]}
