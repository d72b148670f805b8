"""The lifecycle's snapshot blob and digest part.

    blob = msgpack [FORMAT, policy body | nil, clock_us, expired_readings,
                    [[width_us, keys <i8, data <f8 (6 x rows)], ...]
                    (, cold: [files, [[sensor, cutoff], ...], cold readings, next seq])]

The cold part is there only once something was tiered, so earlier blobs and digests stay
as they were.

The per-cell rule caches are not stored: they are derived from the policy and the engine,
so load rebuilds them (O(sensors x rules) once).
"""

from __future__ import annotations

import hashlib

import msgpack
import numpy as np

from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.lifecycle.cold import ColdState
from lithair_node.machine.lifecycle.manager import Lifecycle
from lithair_node.machine.lifecycle.policy import parse_policy
from lithair_node.machine.lifecycle.rollups import RollupTable

FORMAT_VERSION = 1


def is_empty(lifecycle: Lifecycle) -> bool:
    """Nothing to store: a state that never saw a policy or a tick (older snapshots)."""
    return not lifecycle.active and not lifecycle.tables and not lifecycle.clock_us \
        and not lifecycle.expired_readings and lifecycle.cold.empty()


def dump(lifecycle: Lifecycle) -> bytes:
    cold = [] if lifecycle.cold.empty() else [lifecycle.cold.wire()]
    return msgpack.packb([
        FORMAT_VERSION, lifecycle.policy.body() if lifecycle.active else None,
        lifecycle.clock_us, lifecycle.expired_readings,
        [[width, np.ascontiguousarray(t.keys, "<i8").tobytes(),
          np.ascontiguousarray(t.data, "<f8").tobytes()]
         for width, t in sorted(lifecycle.tables.items())],
        *cold,
    ], use_bin_type=True)


def load(blob: bytes, engine: Engine) -> Lifecycle:
    version, body, clock_us, expired, tables, *cold = msgpack.unpackb(blob)
    if version != FORMAT_VERSION:
        raise ValueError(f"unsupported lifecycle snapshot format {version!r}")
    lifecycle = Lifecycle(clock_us=clock_us, expired_readings=expired)
    if cold:
        lifecycle.cold = ColdState.from_wire(cold[0])
    if body is not None:
        lifecycle.set_policy(engine, parse_policy(body), backfill=False)
    for width, keys, data in tables:
        table = RollupTable(width)
        table.load(np.frombuffer(keys, "<i8"), np.frombuffer(data, "<f8"))
        lifecycle.tables[width] = table
    return lifecycle


def digest_part(lifecycle: Lifecycle) -> bytes:
    """What the state digest adds for the lifecycle (only when it is not empty)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(msgpack.packb([lifecycle.policy.body(), lifecycle.clock_us,
                            lifecycle.expired_readings]))
    for width, table in sorted(lifecycle.tables.items()):
        h.update(width.to_bytes(8, "little"))
        h.update(np.ascontiguousarray(table.keys).tobytes())
        h.update(np.ascontiguousarray(table.data).tobytes())
    if not lifecycle.cold.empty():  # the manifest: every node lists the same files
        h.update(msgpack.packb(lifecycle.cold.wire(), use_bin_type=True))
    return h.digest()
