"""A/B of StateMachine.apply: this tree and --baseline-src, each in a fresh child process
running the same code (engine.py's _BEFORE) on the same pickled entries, interleaved.

bench/engine.py times this tree in its own process and the baseline in a child; on the
shared 2-core box that asymmetry alone reads as a 1.2-1.3x "gain" at S = 10, where neither
tree's code differs. Here both sides pay the same process start, pickle load and cold
caches, so the ratio is the code's.

  .venv/bin/python -m lithair_node.lab.bench.engine_ab --baseline-src DIR [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from lithair_node.lab.bench.engine import _BEFORE
from lithair_node.lab.bench.engine_feeds import FEEDS
from lithair_node.lab.bench.procfs import machine_info
from lithair_node.lab.bench.results import RESULTS_DIR, shown, utc_now, write_results

_HERE = str(Path(__file__).resolve().parents[3])


def _child(src: str, path: str) -> tuple[float, float, int, str]:
    out = subprocess.run([sys.executable, "-c", _BEFORE, path, "1"], cwd=src,
                         env={**os.environ, "PYTHONPATH": src}, check=True,
                         capture_output=True, text=True).stdout
    cpu, wall, stored, digest = json.loads(out.splitlines()[-1])
    return cpu, wall, stored, digest


def _cell(args: argparse.Namespace, feed: str, sensors: int) -> dict[str, Any]:
    entries = FEEDS[feed](sensors, args.batch, args.readings)
    best = {"this": float("inf"), "baseline": float("inf")}
    digests: set[str] = set()
    stored = 0
    with tempfile.NamedTemporaryFile(suffix=".entries") as f:
        pickle.dump(entries, f)
        f.flush()
        for _ in range(args.rounds):  # interleaved: a noisy minute hits both trees alike
            for name, src in (("baseline", args.baseline_src), ("this", _HERE)):
                cpu, _, stored, digest = _child(src, f.name)
                best[name] = min(best[name], cpu)
                digests.add(digest)
    row = {"feed": feed, "sensors": sensors, "readings": stored,
           "baseline_per_s": round(stored / best["baseline"]),
           "this_per_s": round(stored / best["this"]),
           "ratio": round(best["baseline"] / best["this"], 3),
           "digests_equal": len(digests) == 1}
    print(f"{feed:>8} {sensors:>7} {row['baseline_per_s']:>11,} {row['this_per_s']:>11,} "
          f"{row['ratio']:>6.2f}" + ("" if row["digests_equal"] else "  DIGESTS DIFFER"), flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline-src", required=True)
    p.add_argument("--sensors", default="10,1000,10000,100000")
    p.add_argument("--feeds", default="gateway,random")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--readings", type=int, default=300_000)
    p.add_argument("--rounds", type=int, default=3, help="best CPU time of this many each")
    args = p.parse_args(argv)
    print("readings per CPU second, best of rounds, both trees in child processes")
    print(f"{'feed':>8} {'S':>7} {'baseline/s':>11} {'this/s':>11} {'x':>6}", flush=True)
    rows = [_cell(args, feed, int(s)) for s in args.sensors.split(",")
            for feed in args.feeds.split(",")]
    path = write_results(RESULTS_DIR, "engine-ab", {
        "when": utc_now(), "machine": machine_info(), "args": vars(args), "apply": rows})
    print(f"wrote {shown(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
