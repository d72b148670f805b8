"""Query-string parsing shared by the read routes: every bad value is a 400 that names it.

Numbers are ASCII digits only (`str.isdigit` also takes superscripts and other scripts,
which `int` then refuses), with a bounded length (`int` refuses > 4,300 digits).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from multidict import MultiMapping

from lithair_node.node.errors import InvalidParameter
from lithair_node.node.timestamps import MAX_US, MIN_US, parse_rfc3339, parse_timestamp

_NUMBER = re.compile(r"[0-9]{1,20}(\.[0-9]{0,20})?")
_INTEGER = re.compile(r"[0-9]{1,20}")
_DURATION_PART = re.compile(r"([0-9]{1,20})(us|ms|s|m|h|d|w)")
_UNIT_US = {"us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000,
            "d": 86_400_000_000, "w": 604_800_000_000}


def time_param(query: Mapping[str, str], name: str, default: int) -> int:
    """RFC 3339 (with an offset) or epoch seconds -> microseconds."""
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        if _NUMBER.fullmatch(text):
            seconds: int | float = int(text) if _INTEGER.fullmatch(text) else float(text)
            return parse_timestamp(seconds)
        return parse_rfc3339(text)
    except ValueError as exc:
        raise InvalidParameter(f"{name}: {exc}", field=name) from None


def time_range(query: Mapping[str, str]) -> tuple[int, int]:
    """`from` (inclusive) and `to` (exclusive); both optional."""
    start = time_param(query, "from", MIN_US)
    end = time_param(query, "to", MAX_US + 1)
    if end < start:
        raise InvalidParameter("to must not be before from", field="to")
    return start, end


def duration_param(query: Mapping[str, str], name: str, default: str | None = None) -> int:
    """A duration such as 1h, 15m, 30s, 1d, 1h30m, 250ms -> microseconds (> 0)."""
    text = query.get(name) or default
    if not text:
        raise InvalidParameter(f"{name} is required (e.g. {name}=1h)", field=name)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidParameter(
            f"{name} must be a duration like 30s, 15m, 1h, 1d or 1h30m (units us ms s m h d w)",
            field=name,
        )
    total = sum(int(number) * _UNIT_US[unit] for number, unit in parts)
    if not 0 < total <= MAX_US:
        raise InvalidParameter(f"{name} must be positive", field=name)
    return total


def int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    if not _INTEGER.fullmatch(text) or not low <= int(text) <= high:
        raise InvalidParameter(f"{name} must be an integer from {low} to {high}", field=name)
    return int(text)


def list_param(query: MultiMapping[str], name: str, allowed: tuple[str, ...] | None = None,
               default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """`name=a&name=b`: each value verbatim (empty ones skipped), so any id can be named;
    `name=a,b` (given once): split on commas and stripped. Repeated values win: they are
    never split. Duplicates are dropped, the first order kept."""
    given = query.getall(name, [])
    if not any(given):
        return default
    if len(given) > 1:
        items = tuple(dict.fromkeys(text for text in given if text))
    else:
        items = tuple(dict.fromkeys(part.strip() for part in given[0].split(",") if part.strip()))
    if not items:
        raise InvalidParameter(f"{name} is empty", field=name)
    if allowed is not None:
        for item in items:
            if item not in allowed:
                raise InvalidParameter(
                    f"{name}: unknown value {item!r}; expected some of {', '.join(allowed)}",
                    field=name,
                )
    return items


def choice_param(query: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    text = query.get(name) or allowed[0]
    if text not in allowed:
        raise InvalidParameter(f"{name} must be one of {', '.join(allowed)}", field=name)
    return text


def cursor_param(query: Mapping[str, str], name: str = "cursor") -> str | None:
    text = query.get(name)
    return text if text else None


def timestamp_cursor(text: str | None, start: int, end: int) -> int:
    """A readings cursor is the first timestamp of the next page (opaque to clients)."""
    if text is None:
        return start
    if not _INTEGER.fullmatch(text) or not MIN_US <= int(text) <= MAX_US + 1:
        raise InvalidParameter("cursor is not one this node handed out", field="cursor")
    return min(max(int(text), start), end)
