"""A blocking Server-Sent Events reader for the stream tests (http.client, one connection)."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Event:
    event: str
    data: Any
    id: int | None


class SseStream:
    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
        self._connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                                 headers=headers or {})
        self.response = self._connection.getresponse()
        self.status = self.response.status

    def next_event(self) -> Event:
        """The next event (comments skipped); socket.timeout if none comes in time."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline().decode()
            if line == "":
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if not line:
                if "data" in fields:
                    return Event(fields.get("event", "message"), json.loads(fields["data"]),
                                 int(fields["id"]) if "id" in fields else None)
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value

    def next_of(self, kind: str) -> Event:
        while True:
            event = self.next_event()
            if event.event == kind:
                return event

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> SseStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
