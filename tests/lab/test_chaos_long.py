"""The long fault run of issue 6, behind the `slow` marker (`pytest -m slow`, ~7 minutes):
20 faults drawn from seed 2026 over 5 minutes of load, as `scripts/chaos.py` runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lithair_node.lab.chaos import ChaosOptions, run_chaos, summary_lines


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_twenty_faults_in_five_minutes_lose_nothing_and_apply_nothing_twice(tmp_path: Path) -> None:
    options = ChaosOptions(
        seed=2026, faults=20, duration_s=300, writers=3, concurrency=2, batch_size=50,
        rate=1000, recovery_timeout_s=120, extra_args=("--snapshot-entries", "2000"),
    )
    result = run_chaos(options, tmp_path, log=print)
    print("\n".join(summary_lines(result)))

    assert result["faults_applied"] == 20, result["problems"]
    assert result["lost"] == 0, result["lost_keys"]
    assert result["duplicated"] == 0 and result["duplicate_readings"] == 0
    assert result["divergent_nodes"] == []
    assert result["elections"]["one_leader_per_term"]
    for url, reads in result["reads"].items():
        assert reads["went_backwards"] == 0, (url, reads["violations"])
    assert result["writes"]["acked"] >= 5_000, result["writes"]
    assert result["ok"], "\n".join(result["problems"])
