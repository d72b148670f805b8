"""bench_queries --baseline-src: the same in-process queries, timed on another checkout's
code (e.g. `git archive <commit> | tar -x -C DIR`), in a subprocess of the same invocation.

The harness (queries_data.py, queries_cases.py) is this tree's, loaded by path in place of
the checkout's, so both sides build the same readings and time the same queries; only the
engine, the state machine and node/queries are the checkout's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent

_DRIVER = """
import importlib.util, json, sys
def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
import lithair_node
assert lithair_node.__file__.startswith(sys.argv[1]), lithair_node.__file__
here, sensors, per_sensor, repeats = sys.argv[2], *map(int, sys.argv[3:6])
load("lithair_node.lab.bench.queries_data", here + "/queries_data.py")
cases = load("lithair_node.lab.bench.queries_cases", here + "/queries_cases.py")
print(json.dumps(cases.run_layout(sensors, per_sensor, repeats, scan=False)))
"""


def parse(given: str) -> tuple[str, str]:
    """NAME=DIR, or DIR (named after its last path part)."""
    name, _, src = given.rpartition("=")
    src = str(Path(src).resolve())
    return (name or Path(src).name), src


def run_layout_in(src: str, sensors: int, per_sensor: int, repeats: int) -> dict[str, Any]:
    """run_layout(scan=False) of `src`'s code; its progress lines go to our stdout."""
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, src, str(_HERE), str(sensors), str(per_sensor), str(repeats)],
        cwd=src, env={**os.environ, "PYTHONPATH": src}, check=True, stdout=subprocess.PIPE,
        text=True)
    lines = done.stdout.splitlines()
    for line in lines[:-1]:
        print(f"  [{Path(src).name}] {line}", flush=True)
    result: dict[str, Any] = json.loads(lines[-1])
    return result
