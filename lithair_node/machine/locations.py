"""Location -> sensors index, kept up to date by apply (a sensor is where its latest batch
said it is). Derived from each series' location, so a restore rebuilds it from the
snapshot's series and the digest already covers it (Tables.locations_hash)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class LocationIndex:
    def __init__(self) -> None:
        self._sensors: dict[str, set[str]] = {}

    def move(self, sensor_id: str, old: str | None, new: str) -> None:
        if old is not None:
            members = self._sensors.get(old)
            if members is not None:
                members.discard(sensor_id)
                if not members:
                    del self._sensors[old]
        self._sensors.setdefault(new, set()).add(sensor_id)

    def place(self, sensor_ids: list[str], locations: list[str]) -> None:
        """move(sensor, None, location) for sensors that had no location, grouped by
        location (a feed adding sensors gives each its first one: no call per sensor)."""
        by_location: dict[str, list[str]] = {}
        for sensor_id, location in zip(sensor_ids, locations, strict=True):
            by_location.setdefault(location, []).append(sensor_id)
        for location, sensors in by_location.items():
            self._sensors.setdefault(location, set()).update(sensors)

    def place_numbered(self, sensors: np.ndarray, at: np.ndarray, sensor_names: Sequence[str],
                       location_names: Sequence[str]) -> None:
        """place() of sensor numbers `sensors` at location numbers `at`: grouped by one
        stable sort, so Python work is per location, not per sensor (a registering batch
        of 1,000 sensors across 50 rooms: 50 set updates)."""
        if not sensors.shape[0]:
            return
        order = np.argsort(at, kind="stable")
        where = at[order]
        cuts = np.flatnonzero(where[1:] != where[:-1]) + 1
        names = list(map(sensor_names.__getitem__, sensors[order].tolist()))
        bounds = [0, *cuts.tolist(), len(names)]
        for location, start, end in zip(where[bounds[:-1]].tolist(), bounds[:-1], bounds[1:],
                                        strict=True):
            self._sensors.setdefault(location_names[location], set()).update(names[start:end])

    def sensors_at(self, location: str) -> list[str]:
        return sorted(self._sensors.get(location, ()))

    def copy(self) -> dict[str, list[str]]:
        """Every location with its sensors, unsorted: O(sensors), cheap under the state lock."""
        return {location: list(members) for location, members in self._sensors.items()}

    def __len__(self) -> int:
        return len(self._sensors)
