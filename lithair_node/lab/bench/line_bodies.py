"""Line-protocol bodies of the same readings BodyFactory sends as JSON (for InfluxDB, and
Lithair's /write): one template per batch shape, whose nanosecond timestamps are rewritten
in place with numpy, so every reading sent is new."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

_TS_DIGITS = 19  # nanoseconds since the epoch, fixed width until the year 2286
_PLACEHOLDER = b"#" * _TS_DIGITS


class _JsonBodies(Protocol):
    _templates: list[bytes]

    def readings(self, number: int) -> list[dict[str, Any]]: ...

    def timestamps_us(self, number: int) -> np.ndarray: ...


class LineBodyFactory:
    """`body(number)` is the JSON factory's readings(number) as line protocol, measurement
    `readings`, tags sensor_id and location, every metric a float field, ns timestamps."""

    def __init__(self, json_bodies: _JsonBodies, batch: int) -> None:
        """`json_bodies`: the load_clients.BodyFactory whose readings these are."""
        self._json = json_bodies
        self.batch = batch
        self._templates: list[bytes] = []
        self._positions: list[np.ndarray] = []
        for number in range(len(self._json._templates)):
            lines = []
            for reading in self._json.readings(number):
                fields = ",".join(f"{k}={v!r}" for k, v in reading.items()
                                  if k not in ("sensor_id", "timestamp", "location"))
                lines.append(b"readings,sensor_id=%s,location=%s %s %s" % (
                    reading["sensor_id"].encode(), reading["location"].encode(), fields.encode(),
                    _PLACEHOLDER))
            raw = b"\n".join(lines) + b"\n"
            offsets, at = [], raw.find(_PLACEHOLDER)
            while at >= 0:
                offsets.append(at)
                at = raw.find(_PLACEHOLDER, at + _TS_DIGITS)
            assert len(offsets) == batch
            self._templates.append(raw)
            self._positions.append((np.asarray(offsets, dtype=np.int64)[:, None]
                                    + np.arange(_TS_DIGITS)).ravel())
        self._powers = 10 ** np.arange(_TS_DIGITS - 1, -1, -1, dtype=np.int64)

    def body(self, number: int) -> bytes:
        which = number % len(self._templates)
        ns = self._json.timestamps_us(number) * 1000
        digits = ((ns[:, None] // self._powers) % 10 + 48).astype(np.uint8)
        out = bytearray(self._templates[which])
        np.frombuffer(out, dtype=np.uint8)[self._positions[which]] = digits.ravel()
        return bytes(out)
