"""ruff is part of the test run: the code base stays lint-clean."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    targets = [d for d in ("lithair_node", "tests", "scripts") if (REPO / d).is_dir()]
    done = subprocess.run([ruff, "check", *targets], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
