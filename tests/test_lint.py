"""ruff and import-linter are part of the test run: the code base stays lint-clean, and
the rooms' layering (pyproject.toml, [tool.importlinter]) holds."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    return shutil.which(name) or str(Path(sys.executable).parent / name)


def test_ruff_is_clean() -> None:
    targets = [d for d in ("lithair_node", "tests", "scripts") if (REPO / d).is_dir()]
    done = subprocess.run([_tool("ruff"), "check", *targets], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_layers_hold() -> None:
    done = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
