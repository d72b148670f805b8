"""Lifecycle policies: the rules that say how long raw readings and rollups are kept.

    {"rules": [{"match": {"location": "lab", "sensor_prefix": "mote-", "metric": "temp"},
                "raw": "7d" | "forever",
                "rollups": [{"every": "1m" | "1h" | "1d", "keep": "90d" | "forever"}],
                "tier_after": "30d" | null}]}

A (sensor, metric) cell follows the first rule whose every given match field matches (no
match field: every cell); a cell no rule matches is kept forever, without rollups. Parsing
is pure: the HTTP layer refuses a bad policy with it, and apply parses the log's copy again
(an entry from a foreign proposer must not break the state).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000,
      "w": 604_800_000_000}
WIDTHS = {"1m": US["m"], "1h": US["h"], "1d": US["d"]}
FOREVER = "forever"
MAX_RULES = 64
MAX_DURATION_US = 100 * 365 * US["d"]  # a century: anything longer is "forever"
_DURATION = re.compile(r"^(\d{1,9})([smhdw])$")
_MATCH_FIELDS = ("location", "sensor_prefix", "metric")
_RULE_FIELDS = {"match", "raw", "rollups", "tier_after"}


class PolicyError(ValueError):
    """A policy that cannot be applied; the message names the rule and field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def parse_duration(text: Any, field: str, forever: bool = True) -> int | None:
    """'90s', '30m', '12h', '7d', '2w' -> microseconds; 'forever' -> None."""
    if forever and text == FOREVER:
        return None
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        also = ' or "forever"' if forever else ""
        raise PolicyError(f"{field} must be a duration like 90s, 30m, 12h, 7d, 2w{also}; "
                          f"got {text!r}", field)
    micros = int(match.group(1)) * US[match.group(2)]
    if not 0 < micros <= MAX_DURATION_US:
        raise PolicyError(f"{field} must be above 0 and at most 100 years", field)
    return micros


@dataclass(frozen=True)
class Rollup:
    every: str  # "1m" | "1h" | "1d"
    keep_us: int | None  # None: forever

    @property
    def width_us(self) -> int:
        return WIDTHS[self.every]


@dataclass(frozen=True)
class Rule:
    location: str | None
    sensor_prefix: str | None
    metric: str | None
    raw_us: int | None  # None: forever
    rollups: tuple[Rollup, ...]
    tier_after_us: int | None  # None: never tiered
    source: dict[str, Any]  # the rule as given (canonical), for GET and snapshots

    def matches_sensor(self, sensor_id: str, location: str | None) -> bool:
        return ((self.sensor_prefix is None or sensor_id.startswith(self.sensor_prefix))
                and (self.location is None or self.location == location))

    def matches_metric(self, metric: str) -> bool:
        return self.metric is None or self.metric == metric


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...] = ()

    def body(self) -> dict[str, Any]:
        return {"rules": [rule.source for rule in self.rules]}

    def widths(self) -> tuple[int, ...]:
        """Every rollup width some rule keeps, ascending."""
        return tuple(sorted({r.width_us for rule in self.rules for r in rule.rollups}))


def parse_policy(body: Any) -> Policy:
    """A Policy from its JSON shape; PolicyError naming the first problem."""
    if not isinstance(body, dict) or set(body) != {"rules"} or not isinstance(body["rules"], list):
        raise PolicyError('a lifecycle policy is {"rules": [...]}', "rules")
    if len(body["rules"]) > MAX_RULES:
        raise PolicyError(f"at most {MAX_RULES} rules", "rules")
    return Policy(tuple(_rule(raw, f"rules[{i}]") for i, raw in enumerate(body["rules"])))


def _rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be an object", where)
    unknown = set(raw) - _RULE_FIELDS
    if unknown:
        raise PolicyError(f"{where}: unknown field {sorted(unknown)[0]!r} "
                          f"(match, raw, rollups, tier_after)", f"{where}.{sorted(unknown)[0]}")
    match = raw.get("match", {})
    if not isinstance(match, dict) or set(match) - set(_MATCH_FIELDS):
        raise PolicyError(f"{where}.match may hold location, sensor_prefix and metric",
                          f"{where}.match")
    for name, value in match.items():
        if not isinstance(value, str) or not value or len(value) > 256:
            raise PolicyError(f"{where}.match.{name} must be a non-empty string",
                              f"{where}.match.{name}")
    raw_us = parse_duration(raw.get("raw", FOREVER), f"{where}.raw")
    rollups = raw.get("rollups", [])
    if not isinstance(rollups, list):
        raise PolicyError(f"{where}.rollups must be an array", f"{where}.rollups")
    parsed: list[Rollup] = []
    for j, item in enumerate(rollups):
        at = f"{where}.rollups[{j}]"
        if not isinstance(item, dict) or set(item) - {"every", "keep"} or "every" not in item:
            raise PolicyError(f'{at} must be {{"every": "1m"|"1h"|"1d", "keep": duration}}', at)
        if item["every"] not in WIDTHS:
            raise PolicyError(f"{at}.every must be one of 1m, 1h, 1d", f"{at}.every")
        if any(r.every == item["every"] for r in parsed):
            raise PolicyError(f"{at}: a second {item['every']} rollup", f"{at}.every")
        parsed.append(Rollup(item["every"], parse_duration(item.get("keep", FOREVER),
                                                           f"{at}.keep")))
    tier = raw.get("tier_after")
    tier_us = None if tier is None else parse_duration(tier, f"{where}.tier_after", forever=False)
    if tier_us is not None and raw_us is not None and tier_us >= raw_us:
        raise PolicyError(f"{where}.tier_after must be shorter than raw (raw data is gone "
                          "by then)", f"{where}.tier_after")
    parsed.sort(key=lambda r: r.width_us)
    source = {"match": {k: match[k] for k in _MATCH_FIELDS if k in match},
              "raw": raw.get("raw", FOREVER),
              "rollups": [{"every": r.every, "keep": _keep_text(rollups, r.every)} for r in parsed],
              "tier_after": tier}
    return Rule(match.get("location"), match.get("sensor_prefix"), match.get("metric"), raw_us,
                tuple(parsed), tier_us, source)


def _keep_text(items: list[dict[str, Any]], every: str) -> str:
    return next(str(i.get("keep", FOREVER)) for i in items if i["every"] == every)
