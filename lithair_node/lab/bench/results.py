"""Where benchmark results go (bench/results/ of the repository) and how a baseline version
of the code is checked out next to the current one."""

from __future__ import annotations

import compileall
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# lithair_node/lab/bench/results.py -> the repository root (the package is installed editable).
REPO = Path(__file__).resolve().parents[3]
RESULTS_DIR = REPO / "bench" / "results"


def shown(path: Path) -> Path:
    """`path` relative to the repository when inside it (for the "wrote ..." lines)."""
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def checkout_ref(repo: Path, ref: str) -> tuple[Path, str]:
    """Extract the source tree of git `ref` into a temp dir (for a baseline run of the
    nodes in the same invocation): (its path, the short commit hash). Caller removes it."""
    tree = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    archive = subprocess.run(["git", "-C", str(repo), "archive", ref],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", ref],
                            check=True, capture_output=True, text=True).stdout.strip()
    return tree, commit


def compile_package(tree: Path) -> None:
    """Byte-compile `tree`'s lithair_node, as an installed package ships it, so a timed
    start or restart measures the node and not the compiler (this box sets
    PYTHONDONTWRITEBYTECODE: otherwise every start compiles ~200 modules, +0.25 s)."""
    compileall.compile_dir(tree / "lithair_node", quiet=1)


def code_env(tree: Path) -> dict[str, str]:
    """Environment that makes `python -m lithair_node` run the code in `tree`."""
    return {"PYTHONPATH": str(tree), "PYTHONSAFEPATH": "1"}


def child_result(script: str, argv: list[str], tree: Path) -> Any:
    """`script --child ARGV` run with `tree`'s code (the benchmark file itself, importing the
    baseline's modules), and the JSON of its last stdout line."""
    child = subprocess.run([sys.executable, script, "--child", *argv],
                           env={**os.environ, **code_env(tree)}, capture_output=True, text=True,
                           check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def write_results(out_dir: Path, name: str, payload: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
