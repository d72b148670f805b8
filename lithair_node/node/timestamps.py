"""Timestamps are stored as integer microseconds since the Unix epoch (UTC).

Accepted input: an RFC 3339 string with a UTC offset (`2004-03-11T16:52:19.794238Z`), or a
number of seconds since the epoch. Digits past the microsecond are truncated. Every bound is
checked in integer microseconds, after rounding, so whatever is accepted can be formatted.
A leap second (`23:59:60`) is the first second of the next minute, as in PostgreSQL: Unix
time has no leap seconds.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

US_PER_SECOND = 1_000_000
MIN_US = 0  # 1970-01-01T00:00:00Z
MAX_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
RANGE_ERROR = "timestamp out of range (1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z)"

_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)


def parse_timestamp(value: object) -> int:
    """Return microseconds since the epoch, or raise ValueError saying what is wrong."""
    kind = type(value)
    if kind is str:
        return parse_rfc3339(value)  # type: ignore[arg-type]
    if kind is int:
        return checked_micros(value * US_PER_SECOND)  # type: ignore[operator]
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise ValueError("timestamp must be a finite number")
        # A coarse bound first: a huge finite float times 10^6 overflows to infinity.
        if not -1.0 <= value <= MAX_US / US_PER_SECOND + 1.0:  # type: ignore[operator]
            raise ValueError(RANGE_ERROR)
        return checked_micros(round(value * US_PER_SECOND))  # type: ignore[operator]
    raise ValueError("timestamp must be an RFC 3339 string or epoch seconds")


def checked_micros(micros: int) -> int:
    """`micros` if it is in the stored range, else ValueError."""
    if not MIN_US <= micros <= MAX_US:
        raise ValueError(RANGE_ERROR)
    return micros


def parse_rfc3339(text: str) -> int:
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(
            "timestamp must be RFC 3339 with a UTC offset, e.g. 2004-03-11T16:52:19.794238Z"
        )
    year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = match.groups()
    leap = second == "60"
    try:
        # datetime() checks the calendar (month lengths, leap years).
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute),
                          59 if leap else int(second))
    except ValueError as exc:
        raise ValueError(f"timestamp is not a valid date/time: {exc}") from None
    offset_min = 0
    if not zulu:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError("timestamp has an invalid UTC offset")
        offset_min = int(off_h) * 60 + int(off_m)
        if sign == "-":
            offset_min = -offset_min
    days = moment.toordinal() - _EPOCH_ORDINAL
    seconds = days * 86_400 + moment.hour * 3600 + moment.minute * 60 + moment.second + leap
    micros = int(frac[:6].ljust(6, "0")) if frac else 0
    return checked_micros((seconds - offset_min * 60) * US_PER_SECOND + micros)


def format_timestamp(micros: int) -> str:
    """RFC 3339 in UTC with microseconds, e.g. 2004-03-11T16:52:19.794238Z."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
