"""The drain rate admission compares its queue with: readings per second of busy time."""

from __future__ import annotations

import math

from lithair_node.node.ingest.drain_rate import DrainRate


def test_unknown_until_a_commit() -> None:
    rate = DrainRate()
    assert rate.per_s(100.0) == math.inf
    rate.busy(100.0)
    assert rate.per_s(100.5) == math.inf


def test_a_node_busy_for_one_second_drains_at_its_real_rate() -> None:
    # Dividing by the whole 5 s window read this as 20K/s and refused writes at start-up.
    rate = DrainRate()
    rate.busy(10.0)
    for step in range(1, 11):
        rate.add(10.0 + step / 10, 10_000)
    assert math.isclose(rate.per_s(11.0), 100_000)


def test_idle_time_is_not_counted() -> None:
    rate = DrainRate()
    rate.busy(0.0)
    rate.add(1.0, 50_000)  # 50K/s while busy
    rate.busy(3.0)  # idle from 1.0 to 3.0
    rate.add(4.0, 50_000)
    assert math.isclose(rate.per_s(4.0), 50_000)


def test_a_slow_stretch_lowers_the_rate_and_old_commits_leave_the_window() -> None:
    rate = DrainRate()
    rate.busy(0.0)
    rate.add(1.0, 100_000)
    rate.add(3.0, 10_000)  # two busy seconds for 10K readings
    assert math.isclose(rate.per_s(3.0), 110_000 / 3)
    assert math.isclose(rate.per_s(6.5), 5_000)  # the first commit is out of the window
    assert rate.per_s(9.0) == math.inf  # none left: unknown again
