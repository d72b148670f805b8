"""Feeds for the apply equivalence test, and what an apply of them leaves: digest, snapshot
content, every ApplyResult, anomalies, locations, each reduced to a hash.

Self-contained (only StateMachine, validation and the envelope encoders, which every tree
since the engine switch has), so it also runs against another checkout to (re)derive the
reference figures:

    cd OTHER && PYTHONPATH=$PWD python /path/to/tests/machine/apply_feeds.py
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable
from typing import Any

from lithair_node.machine.commands import encode_ingest, encode_settings, make_encoded_batch
from lithair_node.machine.entries import LogEntry
from lithair_node.machine.state import StateMachine
from lithair_node.node.ingest.validation import Limits, validate_batch

START_S = 1_700_000_000
BATCH = 1000
METRICS = ("temperature", "humidity", "pressure", "light", "voltage")


def _reading(rng: random.Random, sensor: int, tick: int, ts: float,
             location: str | None) -> dict[str, Any]:
    angle = sensor * 0.7 + tick / 60.0
    reading: dict[str, Any] = {"sensor_id": f"sensor-{sensor:05d}", "timestamp": ts}
    if location is not None:
        reading["location"] = location
    reading.update(temperature=round(21.0 + 4.0 * math.sin(angle) + rng.gauss(0, 0.2), 3),
                   humidity=round(45.0 + 10.0 * math.cos(angle) + rng.gauss(0, 0.5), 3),
                   pressure=round(1013.0 + rng.gauss(0, 1.5), 2),
                   light=round(max(0.0, 300.0 + 250.0 * math.sin(angle / 2)), 1),
                   voltage=round(2.9 - tick * 1e-6 + rng.gauss(0, 0.005), 4))
    if rng.random() < 0.003:  # a spike now and then: anomalies to report
        reading["temperature"] += 40.0
    return reading


def _batch(readings: list[dict[str, Any]], key: str | None) -> Any:
    columns, received = validate_batch({"readings": readings}, Limits(max_readings=100_000))
    return make_encoded_batch(columns, key, received)


def gateway(sensors: int, entries: int, seed: int = 1) -> list[bytes]:
    """Round-robin over the sensors: batches repeat their sensor lists (shape cache hits)."""
    rng = random.Random(seed)
    out = []
    for e in range(entries):
        body = []
        for j in range(BATCH):
            k = e * BATCH + j
            s, tick = k % sensors, k // sensors
            body.append(_reading(rng, s, tick, START_S + tick, f"room-{s % 50:02d}"))
        out.append(encode_ingest([_batch(body, f"g-{e}")]))
    return out


def random_draw(sensors: int, entries: int, seed: int = 2) -> list[bytes]:
    """Every reading's sensor drawn at random; timestamps the reading's rank (in ms)."""
    rng = random.Random(seed)
    seen = [0] * sensors
    out = []
    for e in range(entries):
        body = []
        for j in range(BATCH):
            s = rng.randrange(sensors)
            seen[s] += 1
            body.append(_reading(rng, s, seen[s], START_S + (e * BATCH + j) / 1000,
                                 f"room-{s % 50:02d}"))
        out.append(encode_ingest([_batch(body, f"r-{e}")]))
    return out


def mixed(entries: int = 60, seed: int = 3) -> list[bytes]:
    """Locations that change or are absent, new metrics, absent values, late and duplicate
    readings (stored, within a batch, across batches of one entry), replayed and reused
    keys, group-committed batches of shared and of disjoint sensors, settings changes."""
    rng = random.Random(seed)
    out = [encode_settings({"anomalies": {"min_count": 5, "sigma": 2.0, "cooldown_us": 2_000_000}})]
    sent: list[tuple[str, list[dict[str, Any]]]] = []
    for e in range(entries):
        items = []
        for b in range(rng.choice((1, 1, 2, 3))):
            body = []
            for _ in range(rng.randrange(1, 400)):
                s = rng.randrange(300)
                ts = START_S + e * 10 + rng.randrange(-30, 10) + rng.choice((0, 0.5))
                location = rng.choice((None, None, f"room-{s % 7}", f"hall-{rng.randrange(3)}"))
                reading = _reading(rng, s, e, ts, location)
                for name in METRICS:
                    if rng.random() < 0.2:
                        del reading[name]  # absent
                if rng.random() < 0.05:
                    reading[f"extra_{rng.randrange(40)}"] = rng.gauss(0, 1)  # a new metric
                if len(reading) == 2 + (location is not None):
                    reading["temperature"] = 1.0
                body.append(reading)
            if rng.random() < 0.1:
                body.extend(body[: rng.randrange(1, 5)])  # in-batch repeats
            key = None if rng.random() < 0.3 else f"m-{e}-{b}"
            items.append(_batch(body, key))
            if key is not None:
                sent.append((key, body))
        if sent and rng.random() < 0.15:  # a client retry: the same key and readings again
            key, body = rng.choice(sent)
            items.append(_batch(body, key))
        if sent and rng.random() < 0.05:  # a key reused for other readings
            key, body = rng.choice(sent)
            items.append(_batch([*body[:1], {**body[0], "timestamp": body[0]["timestamp"] + 0.25}], key))
        out.append(encode_ingest(items))
        if e == entries // 2:
            out.append(encode_settings({"anomalies": {"sigma": 1.5}}))
    out.extend(out[5:8])  # entries replayed (as a log would never do, but apply must cope)
    return out


FEEDS: dict[str, Callable[[], list[bytes]]] = {
    **{f"gateway-{s}": (lambda s=s: gateway(s, 25)) for s in (10, 1000, 10_000, 100_000)},
    **{f"random-{s}": (lambda s=s: random_draw(s, 25)) for s in (10, 1000, 10_000, 100_000)},
    "mixed": mixed,
}


def _h(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def _snapshot_content(state: StateMachine) -> bytes:
    """What snapshot() holds, with each sealed segment as its decoded columns and block
    scales rather than its zstd frames: the same zstd level may give other bytes from
    another libzstd release, and the reference must not pin the library."""
    view = state.capture()
    parts = [view.engine, view.lifecycle, repr((vars(view.counters), view.keys, view.members,
                                                view.hashes, view.anomalies)).encode()]
    for segment in view.segments:
        parts += [repr((segment.number, segment.rows)).encode(), segment.sensors.tobytes(),
                  segment.starts.tobytes(), segment.min_ts.tobytes(), segment.max_ts.tobytes(),
                  segment.ts_between(0, segment.rows).tobytes()]
        for metric, blocks in sorted(segment.columns.items()):
            scales = sorted((block, frame[0]) for block, frame in blocks.items())
            parts += [repr((metric, scales)).encode(),
                      segment.values_between(metric, 0, segment.rows).tobytes()]
    return b"".join(parts)


def outcome(entries: list[bytes], seal_rows: int = 7_000) -> dict[str, str]:
    """Hashes of what applying `entries` gives (seals every `seal_rows`: segments too)."""
    state = StateMachine()
    state._tables.engine.seal_rows = seal_rows
    results = [state.apply(LogEntry(i, 1 + i // 20, p)) for i, p in enumerate(entries, 1)]
    _, settings, total, anomalies = state.anomalies()
    return {
        "entries": _h(b"".join(entries)),
        "results": _h(repr(results).encode()),
        "digest": state.digest(),
        "snapshot": _h(_snapshot_content(state)),
        "anomalies": _h(repr((settings, total, anomalies)).encode()),
        "locations": _h(repr(state.locations()).encode()),
        "stats": _h(repr(sorted(state.stats().items())).encode()),
    }


if __name__ == "__main__":
    print(json.dumps({name: outcome(feed()) for name, feed in FEEDS.items()}, indent=1))
