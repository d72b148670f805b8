"""Failover demo: start a 3-node cluster, write continuously, kill -9 the leader, restart
it, and print a timeline and a final integrity check (expected vs stored readings, per node).

    .venv/bin/python scripts/failover_demo.py [--kills 1] [--keep DIR]

Exit status 0 only if every acknowledged reading is on every node exactly once and the
nodes' state digests are equal.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from lithair_node.lab.drills import Drill
from lithair_node.lab.local_cluster import LocalCluster


class Timeline:
    def __init__(self) -> None:
        self.origin = time.monotonic()
        self.lines: list[tuple[float, str]] = []

    def say(self, text: str, at: float | None = None) -> None:
        at = time.monotonic() if at is None else at
        self.lines.append((at, text))
        print(f"+{at - self.origin:7.3f}s  {text}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=1, help="leader kills, one after another")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--warmup-batches", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="use (and keep) this data dir")
    args = parser.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="lithair-failover-demo-"))
    timeline = Timeline()
    cluster = LocalCluster(base).start()
    try:
        timeline.say(f"starting 3 nodes on 127.0.0.1 (data in {base})")
        cluster.wait_ready(timeout_s=60)
        leader = cluster.leader_index()
        timeline.say(f"cluster ready: leader {cluster.specs[leader or 0].node_id}; "
                     + ", ".join(f"{s.node_id} {s.url}" for s in cluster.specs))
        with Drill(cluster, batch_size=args.batch_size, concurrency=args.concurrency) as drill:
            timeline.say(f"load: {args.concurrency} concurrent writers, {args.batch_size}-reading "
                         "batches, each with its own Idempotency-Key, retried on failure")
            drill.wait_acked(args.warmup_batches)
            for _ in range(args.kills):
                acked = drill.history.count("acked")
                timeline.say(f"{acked} batches ({acked * args.batch_size:,} readings) acked so far")
                done = drill.kill_leader(timeout_s=60, restart=False)
                pid = cluster.processes[[s.node_id for s in cluster.specs].index(done.killed)].pid
                timeline.say(f"kill -9 {done.killed} (the leader, pid {pid}, term {done.old_term})",
                             done.kill_at)
                for line in drill.watch.timeline(timeline.origin, after=done.kill_at):
                    print(f"           watch {line.strip()}")
                timeline.say(f"{done.new_leader} leads term {done.new_term}: "
                             f"{done.to_new_leader_s:.3f} s after the kill", done.new_leader_at)
                timeline.say(f"first write committed in term {done.new_term} acked: "
                             f"{done.to_first_ack_s:.3f} s after the kill", done.first_ack_at)
                index = [s.node_id for s in cluster.specs].index(done.killed)
                timeline.say(f"restarting {done.killed} on its data dir")
                cluster.start_node(index)
                cluster.wait_ready(timeout_s=60)
                timeline.say(f"{done.killed} is back, following {done.new_leader}")
                drill.wait_acked(args.warmup_batches // 2)
            timeline.say("stopping the load; batches in flight settle")
            outcome = drill.finish()
            timeline.say("all nodes applied the same log")
        summary = outcome["summary"]
        print()
        print(f"client: {summary['batches']} batches: {summary['acked']} acked, "
              f"{summary['failed']} failed, {summary['unknown']} unknown; "
              f"{summary['with_uncertain_attempt']} had an attempt with an unknown outcome, "
              f"resolved as {summary['resolutions']}")
        print()
        report = outcome["report"]
        print("integrity check: every acked batch present exactly once on every node")
        print(report.table())
        return 0 if report.ok else 1
    finally:
        cluster.stop()
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
