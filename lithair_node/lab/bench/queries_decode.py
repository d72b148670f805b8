"""Block decode cost of bench_queries' columns, this tree's codec beside another tree's, in
one process (the box is shared: ratios, not absolutes). A query over sealed segments is
mostly these decodes.

    python -m lithair_node.lab.bench.queries_decode --baseline-src /tmp/base-tree
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from lithair_node.lab.bench.queries_data import START_US, values_for

HERE = Path(__file__).resolve().parents[2] / "machine" / "engine" / "codec.py"
RESULTS_DIR = Path("bench/results")
N = 4096


def _codec(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _best_us(fn: Any, frames: list[Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for frame in frames:
            fn(frame)
        best = min(best, time.perf_counter() - started)
    return round(best / len(frames) * 1e6, 2)


def measure(baseline: Path, repeats: int = 9) -> dict[str, Any]:
    trees = {"this": _codec(HERE, "codec_this"), "baseline": _codec(baseline, "codec_base")}
    rng = np.random.default_rng(0)
    tick = np.arange(N)
    ts = START_US + tick * 10_000_000 + np.where(rng.random(N) < 0.01, 5_000_000, 0)
    values = values_for(np.repeat(np.arange(8), N // 8), tick)
    base = trees["baseline"]
    kinds = {"timestamps": [base.encode_timestamps(ts + i) for i in range(64)],
             "raw_floats": [base.encode_floats(values[m]) for m in range(4)] * 16,
             "scaled_floats": [base.encode_floats(np.round(values[m], 2)) for m in range(4)] * 16}
    out: dict[str, Any] = {}
    for kind, frames in kinds.items():
        for label, codec in trees.items():
            if kind == "timestamps":
                got = [codec.decode_timestamps(f, N) for f in frames[:2]]
                fn = lambda f, c=codec: c.decode_timestamps(f, N)  # noqa: E731
            else:
                got = [codec.decode_floats(s, f, N) for s, f in frames[:2]]
                fn = lambda f, c=codec: c.decode_floats(f[0], f[1], N)  # noqa: E731
            expected = [base.decode_timestamps(f, N) if kind == "timestamps"
                        else base.decode_floats(f[0], f[1], N) for f in frames[:2]]
            assert all(a.tobytes() == b.tobytes() for a, b in zip(got, expected, strict=True))
            out.setdefault(kind, {})[f"{label}_us_per_block"] = _best_us(fn, frames, repeats)
        out[kind]["speed_up"] = round(out[kind]["baseline_us_per_block"]
                                      / out[kind]["this_us_per_block"], 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline-src", type=Path, required=True, help="a tree's root")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    found = measure(args.baseline_src / "lithair_node" / "machine" / "engine" / "codec.py")
    result = {"script": "lithair_node.lab.bench.queries_decode", "block_rows": N,
              "baseline": str(args.baseline_src), "decode": found}
    print(json.dumps(result, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"queries-decode-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
