"""Profile the nodes of a loaded 3-node cluster with py-spy and summarise where time goes.

    .venv/bin/pip install py-spy
    .venv/bin/python scripts/bench_profile.py --batch 1000 --seconds 10

Starts a fresh cluster, drives it like bench_ingest.py (same clients and bodies), records
the leader and one follower with `py-spy record --format raw` (all threads, idle excluded)
and prints, per node, the share of samples spent in each function (inclusive) and in each
leaf (exclusive). Raw stacks are kept in bench/results/profiles/ when --keep is given.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lithair_node.lab.bench.load_clients import ClientPlan, run_clients, summarise
from lithair_node.lab.bench.results import RESULTS_DIR
from lithair_node.lab.local_cluster import LocalCluster


def summarise_raw(path: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [f.split(" (")[0] + " " + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1]
                  if " (" in f else f for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += count
        leaf[frames[-1]] += count
    if not total:
        return "  (no samples)"
    out = [f"  {total} samples; inclusive:"]
    out += [f"    {100 * c / total:5.1f}%  {f}" for f, c in inclusive.most_common(top)]
    out.append("  exclusive (leaf):")
    out += [f"    {100 * c / total:5.1f}%  {f}" for f, c in leaf.most_common(top)]
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--sensors", type=int, default=100)
    p.add_argument("--target", choices=["all", "leader"], default="all")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--gil", action="store_true",
                   help="only samples holding the GIL (Python CPU work; hides GIL waits)")
    p.add_argument("--keep", action="store_true", help="keep raw stacks in bench/results/profiles/")
    p.add_argument("--lithair-arg", action="append", default=[])
    args = p.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy not found: pip install py-spy", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        cluster = LocalCluster(Path(tmp), nodes=3, extra_args=tuple(args.lithair_arg)).start()
        try:
            cluster.wait_ready(timeout_s=60)
            leader = cluster.leader_index()
            assert leader is not None
            follower = next(i for i in range(3) if i != leader)
            order = [leader] + [i for i in range(3) if i != leader]
            urls = [cluster.specs[i].url for i in order]
            start_at = time.time() + 1.0
            lo, hi = start_at + 2.0, start_at + 2.0 + args.seconds
            per = max(1, args.concurrency // args.clients)
            targets = urls if args.target == "all" else urls[:1]
            plans = [ClientPlan("lithair", c, [targets[c % len(targets)]], args.batch, args.sensors,
                                per, start_at, hi + 0.5) for c in range(args.clients)]
            spies = []
            for name, index in (("leader", leader), ("follower", follower)):
                out = Path(tmp) / f"{name}.txt"
                spies.append((name, out, subprocess.Popen(
                    [py_spy, "record", "--format", "raw", "--pid", str(cluster.processes[index].pid),
                     "--duration", str(int(args.seconds)), "--rate", "200", "--threads",
                     "--output", str(out), "--nonblocking", *(["--gil"] if args.gil else [])],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
                # started early; py-spy's duration covers the measured window
            results = run_clients(plans)
            for _, _, spy in spies:
                spy.wait(timeout=60)
            summary = summarise(results, args.batch, (lo, hi))
            print(f"load: {summary['readings_per_s']:,} readings/s, latency {summary['latency_ms']}, "
                  f"errors {summary['errors']}")
            for name, out, _ in spies:
                print(f"\n== {name} ==")
                print(summarise_raw(out, args.top) if out.exists() else "  (no profile)")
                if args.keep and out.exists():
                    dest = RESULTS_DIR / "profiles"
                    dest.mkdir(parents=True, exist_ok=True)
                    shutil.copy(out, dest / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.txt")
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
