"""Journal size and snapshots under continuous load, with and without log compaction.

For each configuration (by default: compaction as configured, and a baseline with
compaction off), in the same invocation: start a fresh 3-node cluster, write `--readings`
readings as fast as the cluster takes them, and sample every node twice a second:
the journal's size on disk (its segment files) and the bytes of the entries it holds, the log
length, the snapshots taken (readings, bytes, write time), the term and leader changes.

Prints a table and writes JSON to bench/results/journal-<time>.json.

    .venv/bin/python scripts/bench_journal.py --readings 3000000
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from lithair_node.client.cluster_client import ClusterClient
from lithair_node.client.inject import BackgroundInjector
from lithair_node.client.sources import synthetic_batches
from lithair_node.lab.bench.results import RESULTS_DIR
from lithair_node.lab.local_cluster import LocalCluster

MIB = 1024 * 1024
NO_COMPACTION = ("--snapshot-entries", "1000000000", "--snapshot-bytes", str(1024 * MIB),
                 "--snapshot-interval", "1000000")


def journal_sizes(journal_dir: Path) -> tuple[int, int]:
    """(segment bytes on disk, the same): PySyncObj's journal header gave its live bytes;
    ours drops whole segments, so on disk the live part is not told apart (the columns
    are kept for comparison with the older results)."""
    try:
        sizes = [segment.stat().st_size for segment in sorted(journal_dir.glob("*.seg"))]
    except OSError:  # a segment dropped between the listing and the stat
        return 0, 0
    return sum(sizes), sum(sizes)


class Sampler(threading.Thread):
    def __init__(self, cluster: LocalCluster, period_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.period_s = period_s
        self.samples: list[dict[str, Any]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self._halt.is_set():
            row: dict[str, Any] = {"t": round(time.monotonic() - started, 2), "nodes": []}
            for index, spec in enumerate(self.cluster.specs):
                status = self.cluster.status(index) or {}
                size, live = journal_sizes(spec.data_dir / "journal")
                row["nodes"].append({
                    "node": spec.node_id, "journal_bytes": size, "journal_live_bytes": live,
                    "log_length": status.get("log_length"), "term": status.get("term"),
                    "role": status.get("role"), "leader_changes": status.get("leader_changes"),
                    "readings": status.get("total_readings"),
                    "memory_mb": status.get("memory_usage_mb"),
                    "snapshot": status.get("snapshot", {}),
                })
            self.samples.append(row)
            self._halt.wait(self.period_s)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def run_config(name: str, extra: tuple[str, ...], args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-journal-{name}-") as tmp:
        cluster = LocalCluster(Path(tmp), extra_args=extra).start()
        try:
            cluster.wait_ready(timeout_s=60)
            start_terms = {s["node_id"]: s["term"] for s in map(cluster.status, range(3)) if s}
            urls = cluster.urls
            sampler = Sampler(cluster)
            sampler.start()
            load = BackgroundInjector(
                lambda: ClusterClient(urls),
                synthetic_batches(args.sensors, args.batch_size, seed=7),
                concurrency=args.concurrency, max_readings=args.readings,
                key_prefix=f"journal-{name}",
            ).start()
            while load.running:
                time.sleep(0.5)
            report = load.stop(timeout_s=args.timeout)
            print(f"    {report.summary()['readings']}", file=sys.stderr)
            cluster.wait_converged(timeout_s=120)
            time.sleep(1.0)  # one more sample after the last snapshot settles
            sampler.stop()
            final = [cluster.status(i) or {} for i in range(3)]
        finally:
            cluster.stop()
    summary = report.summary()
    nodes = []
    for index, spec in enumerate(cluster.specs):
        rows = [s["nodes"][index] for s in sampler.samples]
        snaps = final[index].get("snapshot", {})
        nodes.append({
            "node": spec.node_id,
            "journal_bytes_max": max(r["journal_bytes"] for r in rows),
            "journal_bytes_final": rows[-1]["journal_bytes"],
            "journal_live_bytes_max": max(r["journal_live_bytes"] for r in rows),
            "journal_live_bytes_final": rows[-1]["journal_live_bytes"],
            "log_length_max": max(r["log_length"] or 0 for r in rows),
            "snapshots": snaps.get("count", 0),
            "last_snapshot": snaps,
            "largest_snapshot_readings": max((r["snapshot"].get("readings", 0) for r in rows),
                                             default=0),
            "max_snapshot_write_ms": max((r["snapshot"].get("write_ms", 0) for r in rows),
                                         default=0),
            "term_start": start_terms.get(spec.node_id),
            "term_end": final[index].get("term"),
            "leader_changes": final[index].get("leader_changes"),
            "memory_mb_max": max(r["memory_mb"] or 0 for r in rows),
        })
    return {"name": name, "extra_args": list(extra), "inject": summary, "nodes": nodes,
            "samples": sampler.samples}


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"{'config':14} {'node':6} {'readings/s':>10} {'journal max':>12} {'journal end':>12} "
          f"{'live max':>10} {'snapshots':>9} {'largest snap':>13} {'write ms':>9} "
          f"{'terms':>7} {'RSS MB':>7}")
    for result in results:
        rate = result["inject"]["readings_per_s"]
        for node in result["nodes"]:
            print(f"{result['name']:14} {node['node']:6} {rate:>10,.0f} "
                  f"{node['journal_bytes_max'] / MIB:>10.1f}Mi {node['journal_bytes_final'] / MIB:>10.1f}Mi "
                  f"{node['journal_live_bytes_max'] / MIB:>8.1f}Mi {node['snapshots']:>9} "
                  f"{node['largest_snapshot_readings']:>13,} {node['max_snapshot_write_ms']:>9.0f} "
                  f"{node['term_start']}->{node['term_end']:<3} {node['memory_mb_max']:>7.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=3_000_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--config", action="append", default=[], metavar="NAME=FLAGS",
                        help="a compaction configuration to run: a name and extra `lithair "
                             "serve` flags, e.g. 'bytes32=--snapshot-bytes 33554432' "
                             "(repeatable; default: 'defaults=' i.e. the built-in settings)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the no-compaction run")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    configs = []
    for item in args.config or ["defaults="]:
        name, _, flags = item.partition("=")
        configs.append((name, tuple(flags.split())))
    if not args.no_baseline:
        configs.append(("no-compaction", NO_COMPACTION))
    results = []
    for name, extra in configs:
        print(f"--- {name}: {args.readings:,} readings, serve {' '.join(extra) or '(defaults)'}",
              file=sys.stderr)
        results.append(run_config(name, extra, args))
    print_table(results)
    out = args.out or RESULTS_DIR / f"journal-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "journal",
        "command": " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": __import__("os").cpu_count()},
        "readings": args.readings, "batch_size": args.batch_size, "sensors": args.sensors,
        "concurrency": args.concurrency, "results": results,
    }
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
