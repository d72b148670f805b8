from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INTEL_LAB = REPO / "data" / "intel_lab_sample.txt"


@pytest.fixture(scope="session")
def intel_lab_path() -> Path:
    assert INTEL_LAB.exists(), "data/intel_lab_sample.txt is part of the repository"
    return INTEL_LAB
pytest_plugins = ["tests.cluster_fixtures"]
