"""Fault injection under load with a history checker (lithair_node/lab/chaos).

Starts a 3-node cluster (each node in a network namespace of its own when this machine
allows it, else on loopback without partition faults), runs writer clients that record
every batch, applies `--faults` faults from a random schedule seeded by `--seed`, spread over
`--duration` seconds of load (kill -9 of the leader / a follower / any node then restart,
SIGSTOP 1-10 s then SIGCONT, isolating a node, cutting one link, restarting the whole
cluster), waits for recovery after each, then checks every acked batch is on every node
exactly once, no reading counted twice, equal digests, reads never went backwards.

Prints a summary; writes JSON to bench/results/chaos-<time>-seed<N>.json. Exit status 1 if
the check failed.

    .venv/bin/python scripts/chaos.py --seed 7 --faults 20 --duration 300
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

from lithair_node.lab.bench.results import RESULTS_DIR
from lithair_node.lab.chaos import ALL_KINDS, ChaosOptions, run_chaos, summary_lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    parser.add_argument("--faults", type=int, default=20)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--writers", type=int, default=3, help="writer clients")
    parser.add_argument("--concurrency", type=int, default=2, help="batches in flight per writer")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="readings/s per writer (0: as fast as the cluster acks)")
    parser.add_argument("--require", action="append", default=[], choices=ALL_KINDS,
                        help="a fault kind the schedule must include (repeatable)")
    parser.add_argument("--no-netns", action="store_true",
                        help="nodes on loopback even if namespaces are available (no partitions)")
    parser.add_argument("--snapshot-entries", type=int, default=2000,
                        help="`lithair serve --snapshot-entries`: small, so that snapshots, "
                             "restores and installs happen during the faults (0: the default)")
    parser.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                        help="an extra `lithair serve` argument (repeatable)")
    parser.add_argument("--power-cut", action="store_true",
                        help="run the nodes in the test I/O mode (unsynced writes stay in the "
                             "process) and add power_cut faults: kill -9 of every node at once")
    parser.add_argument("--recovery-timeout", type=float, default=120.0)
    parser.add_argument("--data-dir", type=Path, help="keep the nodes' data and logs here")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    options = ChaosOptions(
        seed=seed, faults=args.faults, duration_s=args.duration, writers=args.writers,
        concurrency=args.concurrency, batch_size=args.batch_size, rate=args.rate or None,
        network=False if args.no_netns else None, required=tuple(args.require),
        recovery_timeout_s=args.recovery_timeout, power_cut=args.power_cut,
        extra_args=(*(["--snapshot-entries", str(args.snapshot_entries)] if args.snapshot_entries
                      else []), *args.serve_arg),
    )

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds: nodes stopped, namespaces removed

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if args.data_dir:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        result = run_chaos(options, args.data_dir, log)
    else:
        with tempfile.TemporaryDirectory(prefix="lithair-chaos-") as tmp:
            result = run_chaos(options, Path(tmp), log)
    print("\n".join(summary_lines(result)))
    out = args.out or RESULTS_DIR / (
        f"chaos-{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python", "scripts/chaos.py", *sys.argv[1:]])
    if args.seed is None:
        command += f"  (seed drawn: --seed {seed})"
    out.write_text(json.dumps({
        "benchmark": "chaos",
        "command": command,
        "started": started,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "loadavg_before": load_before,
                    "loadavg_at_end": os.getloadavg()},
        **result,
    }, indent=1) + "\n")
    print(f"wrote {out}")
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
