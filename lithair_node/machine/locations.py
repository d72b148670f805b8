"""Location -> sensors index, kept up to date by apply (a sensor is where its latest batch
said it is). Derived from each series' location, so a restore rebuilds it from the
snapshot's series and the digest already covers it (Tables.locations_hash)."""

from __future__ import annotations


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

    def sensors_at(self, location: str) -> list[str]:
        return sorted(self._sensors.get(location, ()))

    def copy(self) -> dict[str, list[str]]:
        """Every location with its sensors, unsorted: O(sensors), cheap under the state lock."""
        return {location: list(members) for location, members in self._sensors.items()}

    def __len__(self) -> int:
        return len(self._sensors)
