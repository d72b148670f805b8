#!/usr/bin/env python3
"""Segment build CPU: segment.seal of frozen hot buffers (2^19 rows), this tree and
--baseline-src's, each in a fresh child process on the same generated columns, interleaved
--passes times. Reports CPU (thread time) and wall per seal, and checks that both trees'
segment.encode bytes are identical (sha256)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROWS = 1 << 19
START_US = 1_700_000_000_000_000


def frozen(shape: str, seed: int = 1) -> tuple[np.ndarray, ...]:
    """(sensor, ts, row, metric, value) as the hot buffer freezes them (arrival order)."""
    rng = np.random.default_rng(seed)
    k = np.arange(ROWS)
    if shape in ("inject", "intel"):
        sensors = 10_000 if shape == "inject" else 1_000
        sensor, tick = (k % sensors).astype(np.int32), k // sensors
        ts = START_US + tick * 1_000_000
        if shape == "intel":
            ts = ts + rng.integers(-500, 500, ROWS) * 1000
        decimals = (3, 3, 2, 1, 4) if shape == "inject" else (4, 2, 4, 5)
        base = rng.normal(0, 1, (len(decimals), sensors))[:, sensor] * 5 + 20
        walk = np.cumsum(rng.normal(0, 0.01, (len(decimals), ROWS)), axis=1)
        values = np.vstack([np.round(base[i] + walk[i], d) for i, d in enumerate(decimals)])
        metric = np.tile(np.arange(len(decimals), dtype=np.int32), ROWS)
        row = np.repeat(k, len(decimals)).astype(np.int32)
        value = values.T.ravel()
    else:  # "sparse": 60 metrics, each row 3 of them, some raw floats
        sensor = rng.integers(0, 3_000, ROWS).astype(np.int32)
        ts = START_US + k * 1000
        metric = rng.integers(0, 60, (ROWS, 3)).astype(np.int32)
        metric.sort(axis=1)
        keep = np.concatenate(([[True]] * ROWS, metric[:, 1:] != metric[:, :-1]), axis=1)
        row = np.repeat(k, 3).reshape(ROWS, 3)[keep].astype(np.int32)
        metric = metric[keep]
        value = np.where(metric % 3 == 0, rng.normal(0, 1, metric.shape[0]),
                         np.round(rng.normal(50, 10, metric.shape[0]), 2))
    return sensor, ts.astype(np.int64), row, metric, value


def child(shape: str, reps: int) -> dict:
    from lithair_node.machine.engine import segment

    cols = frozen(shape)
    cpu, wall, digest = [], [], ""
    for _ in range(reps):
        c, w = time.thread_time(), time.perf_counter()
        built = segment.seal(0, *cols)
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)
        digest = hashlib.sha256(segment.encode(built)).hexdigest()
    return {"cpu_s": cpu, "wall_s": wall, "sha256": digest}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--baseline-src", required=True)
    p.add_argument("--shapes", default="inject,intel,sparse")
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.reps)))
        return 0
    trees = {"new": str(Path(__file__).resolve().parents[1]), "base": args.baseline_src}
    results: dict = {}
    for shape in args.shapes.split(","):
        for _ in range(args.passes):
            for name, tree in trees.items():
                env = os.environ | {"PYTHONPATH": tree, "PYTHONSAFEPATH": "1"}
                out = subprocess.run([sys.executable, __file__, "--baseline-src", "-", "--child", shape,
                                      "--reps", str(args.reps)], env=env, check=True,
                                     capture_output=True, text=True).stdout
                row = results.setdefault(shape, {}).setdefault(name, {"cpu_s": [], "wall_s": []})
                found = json.loads(out)
                row["cpu_s"] += found["cpu_s"]
                row["wall_s"] += found["wall_s"]
                row["sha256"] = found["sha256"]
        r = results[shape]
        r["identical"] = r["new"]["sha256"] == r["base"]["sha256"]
        for name in trees:
            r[name]["cpu_median_ms"] = round(1000 * statistics.median(r[name]["cpu_s"]), 1)
            r[name]["cpu_min_ms"] = round(1000 * min(r[name]["cpu_s"]), 1)
        print(f"{shape:8} base {r['base']['cpu_median_ms']:7.1f} ms  new {r['new']['cpu_median_ms']:7.1f} ms"
              f"  (min {r['base']['cpu_min_ms']} / {r['new']['cpu_min_ms']})  identical={r['identical']}",
              flush=True)
    from lithair_node.lab.bench.procfs import machine_info
    from lithair_node.lab.bench.results import RESULTS_DIR, shown, utc_now, write_results
    path = write_results(RESULTS_DIR, "build-cpu", {"when": utc_now(), "machine": machine_info(),
                                                   "args": vars(args), "results": results})
    print(f"wrote {shown(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
