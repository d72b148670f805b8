"""Failover under load, for one or more Raft timing settings side by side.

For each setting (default: the election timeouts we ship, a shorter range, and PySyncObj's
own 0.4-1.4 s as the baseline),
on a fresh 3-node cluster with a client writing continuously (history.checkable_batches
through the retrying ClusterClient):
1. steady: `--steady` seconds with no fault, the drill's load plus a saturating one
   (`--saturate-concurrency` writers of `--saturate-batch-size` readings): any election
   here is spurious (a busy leader missing its heartbeats);
2. restarts: `--restarts` times, kill -9 a follower and restart it: the leader must stay;
3. kills: `--kills` times, kill -9 the leader; time kill -> a new leader every live node
   follows (LeaderWatch, polled every 20 ms) and kill -> the first ack of an entry
   committed in the new term; restart the killed node, wait until it follows;
4. isolation: `--isolations` times, SIGSTOP both followers; time until the leader steps
   down (leader fallback timeout) and the slowest answer to a write sent to it; SIGCONT;
5. check: stop the load, wait for convergence, compare the client's history with every
   node (every acked batch exactly once, digests equal).

Prints a table, writes JSON to bench/results/failover-<time>.json.

    .venv/bin/python scripts/bench_failover.py --kills 12
    .venv/bin/python scripts/bench_failover.py --setting "main@/work/main=" --setting "new="

`NAME@DIR=FLAGS` runs the nodes of that setting from another checkout (DIR first on their
PYTHONPATH, PYTHONSAFEPATH so the current directory does not shadow it): the baseline and
the change in one invocation, on the same machine and load. The client (this process) is
always the current tree's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lithair_node.client.cluster_client import ClusterClient, SendResult
from lithair_node.client.inject import BackgroundInjector
from lithair_node.lab.bench import failover_trace
from lithair_node.lab.bench.results import RESULTS_DIR
from lithair_node.lab.drills import Drill
from lithair_node.lab.history import checkable_batches
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.polling import wait_until

DEFAULT_SETTINGS = [
    "1.0-2.0=--election-timeout 1.0-2.0 --leader-fallback-timeout 3",
    "0.6-1.2=--election-timeout 0.6-1.2 --leader-fallback-timeout 3",
    "0.4-1.4=--election-timeout 0.4-1.4 --leader-fallback-timeout 3",
]


def spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None, "worst": None, "best": None}
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 3),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 3),
        "worst": round(ordered[-1], 3),
        "best": round(ordered[0], 3),
    }


def post_probe(drill: Drill, url: str, batches: Iterator[list[dict[str, Any]]],
               timeout_s: float) -> tuple[int, float]:
    """One single-attempt write to `url`, recorded in the drill's history (so the final
    check accounts for it); (HTTP status or 0, seconds until the answer)."""
    batch = next(batches)

    async def send() -> SendResult:
        async with ClusterClient([url], request_timeout_s=timeout_s) as client:
            return await client.post_batch(batch, f"{drill.run_id}-{batch[0]['sensor_id']}",
                                           url=url, max_attempts=1)

    result = asyncio.run(send())
    drill.probes.add(batch, result)
    attempt = result.trail[0]
    return attempt.status or 0, attempt.elapsed_s


def isolate_leader(drill: Drill, timeout_s: float) -> dict[str, Any]:
    """SIGSTOP both followers; write to the leader until it steps down; SIGCONT."""
    cluster = drill.cluster
    leader = drill.watch.wait_leader(timeout_s)
    index = cluster.urls.index(leader.node)
    followers = [i for i in range(cluster.nodes) if i != index]
    for i in followers:
        cluster.signal_node(i, signal.SIGSTOP)
    stopped_at = time.monotonic()
    answers: list[tuple[int, float]] = []
    probes = checkable_batches(f"{drill.run_id}-iso{int(stopped_at * 1000)}", 5)

    def stepped_down() -> bool:
        """Write once more; true once the leader stepped down and refuses writes at once."""
        answers.append(post_probe(drill, leader.node, probes, timeout_s))
        stepped = drill.watch.first_event(
            lambda e, url=leader.node: e.node == url and e.role != "leader", stopped_at)
        return stepped is not None and answers[-1][0] == 503 and answers[-1][1] < 0.5

    try:
        with contextlib.suppress(TimeoutError):  # measured, not asserted: the table shows it
            wait_until(stepped_down, timeout_s, period_s=0)
    finally:
        for i in followers:
            cluster.signal_node(i, signal.SIGCONT)
    stepped = drill.watch.first_event(
        lambda e, url=leader.node: e.node == url and e.role != "leader", stopped_at)
    drill.watch.wait_leader(timeout_s, min_term=0)
    cluster.wait_ready(timeout_s=timeout_s)
    return {
        "leader": leader.node_id,
        "step_down_s": None if stepped is None else round(stepped.at - stopped_at, 3),
        "writes": len(answers),
        "statuses": sorted({code for code, _ in answers}),
        "slowest_answer_s": round(max((t for _, t in answers), default=0.0), 3),
    }


def source_env(src: str) -> dict[str, str]:
    """The environment that makes `python -m lithair_node` import the checkout at `src`."""
    return {"PYTHONPATH": str(Path(src).resolve()), "PYTHONSAFEPATH": "1"} if src else {}


def source_commit(src: str) -> str | None:
    done = subprocess.run(["git", "-C", src or ".", "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=False)
    return done.stdout.strip() or None


def run_setting(name: str, flags: tuple[str, ...], args: argparse.Namespace,
                src: str = "") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-failover-{name}-") as tmp:
        cluster = LocalCluster(Path(tmp), extra_args=flags, env=source_env(src)).start()
        try:
            cluster.wait_ready(timeout_s=60)
            with Drill(cluster, batch_size=args.batch_size, concurrency=args.concurrency,
                       rate=args.rate) as drill:
                drill.wait_acked(20)
                steady_from = time.monotonic()
                term_before = drill.watch.wait_leader(30).term
                # Fault-free phase: the drill's load plus a saturating one (1,000-reading
                # batches, recorded with the probes so the final check still covers them).
                heavy = BackgroundInjector(
                    lambda: ClusterClient(list(cluster.urls)),
                    checkable_batches(f"{drill.run_id}-sat", args.saturate_batch_size),
                    concurrency=args.saturate_concurrency, duration_s=args.steady,
                    key_prefix=f"{drill.run_id}-sat", on_result=drill.probes.add,
                ).start()
                while heavy.running:
                    time.sleep(0.2)
                saturation = heavy.stop()
                term_after = drill.watch.wait_leader(30).term
                ticks = {s["node_id"]: (s["role"], s["longest_tick_ms"])
                         for s in map(cluster.status, range(cluster.nodes)) if s}
                spurious = [e for e in drill.watch.events
                            if e.at >= steady_from and e.role == "candidate"]
                # Follower restarts: the restarted node reads its journal, loads its snapshot
                # and replays; it must not depose the leader meanwhile.
                restart_terms = []
                for _ in range(args.restarts):
                    before = drill.watch.wait_leader(60)
                    follower = next(i for i, u in enumerate(cluster.urls) if u != before.node)
                    cluster.kill_node(follower)
                    cluster.start_node(follower)
                    cluster.wait_ready(timeout_s=60)
                    drill.wait_acked(10)
                    after = drill.watch.wait_leader(60)
                    restart_terms.append([before.term, after.term])
                print(f"  {name} follower restarts: terms {restart_terms}", file=sys.stderr)
                traces = []
                for number in range(args.kills):
                    done = drill.kill_leader(timeout_s=60)
                    print(f"  {name} kill {number + 1}: {done.killed} -> {done.new_leader} "
                          f"new leader {done.to_new_leader_s:.3f}s, first ack "
                          f"{done.to_first_ack_s:.3f}s", file=sys.stderr)
                    if args.trace:
                        ack = drill.history.first_ack_after(done.kill_at, done.old_term + 1)
                        traces.append(failover_trace.kill_timeline(
                            cluster, done.kill_at, done.new_term, ack))
                        print(f"    {failover_trace.describe(traces[-1]['phases'])}",
                              file=sys.stderr)
                    drill.wait_acked(10)
                isolations = []
                for _ in range(args.isolations):
                    isolations.append(isolate_leader(drill, timeout_s=60))
                    print(f"  {name} isolation: {isolations[-1]}", file=sys.stderr)
                    drill.wait_acked(10)
                outcome = drill.finish()
        finally:
            cluster.stop()
    rounds = [r.as_dict() for r in drill.rounds]
    for kill_round, traced in zip(rounds, traces, strict=False):
        kill_round["trace"] = traced
    report = outcome["report"]
    return {
        "name": name,
        "flags": list(flags),
        "source": {"dir": str(Path(src or ".").resolve()), "commit": source_commit(src)},
        "steady": {"seconds": args.steady, "term_before": term_before, "term_after": term_after,
                   "elections": len(spurious),
                   "longest_tick_ms": ticks,
                   "saturating_load": saturation.summary()},
        "follower_restarts": {"terms_before_after": restart_terms,
                              "leader_changes": sum(1 for a, b in restart_terms if a != b)},
        "kill_to_new_leader_s": spread([r["to_new_leader_s"] for r in rounds]),
        "kill_to_first_ack_s": spread([r["to_first_ack_s"] for r in rounds]),
        "rounds": rounds,
        "isolations": isolations,
        "history": outcome["summary"],
        "integrity": report.as_dict(),
    }


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"{'setting':20} {'kills':>5} {'new leader med/worst':>21} {'first ack med/worst':>20} "
          f"{'steady elect.':>13} {'restart chg':>11} {'sat. rdg/s':>10} {'step-down':>10} "
          f"{'unknown->':>10} {'integrity':>9}")
    def num(value: float | None) -> float:
        return float("nan") if value is None else value

    for r in results:
        nl = {k: num(v) for k, v in r["kill_to_new_leader_s"].items()}
        fa = {k: num(v) for k, v in r["kill_to_first_ack_s"].items()}
        steps = [i["step_down_s"] for i in r["isolations"] if i["step_down_s"] is not None]
        res = r["history"]["resolutions"]
        uncertain = r["history"]["with_uncertain_attempt"]
        print(f"{r['name']:20} {len(r['rounds']):>5} {nl['median']:>9.3f} / {nl['worst']:<9.3f}"
              f" {fa['median']:>8.3f} / {fa['worst']:<9.3f} {r['steady']['elections']:>13} "
              f"{r['follower_restarts']['leader_changes']:>11} "
              f"{r['steady']['saturating_load']['readings_per_s']:>10,.0f} "
              f"{(max(steps) if steps else float('nan')):>9.2f}s "
              f"{uncertain:>4}:{res.get('committed_earlier', 0)}e/{res.get('committed_by_retry', 0)}r"
              f"/{res.get('unresolved', 0)}u {'OK' if r['integrity']['ok'] else 'FAILED':>6}")
    print("unknown->: batches with an uncertain attempt: e = had committed (retry answered "
          "duplicate_batch), r = had not (the retry stored it), u = still unknown")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", action="append", default=[], metavar="NAME[@DIR]=FLAGS",
                        help="a name, optionally the checkout to run the nodes from, and "
                             "`lithair serve` flags (repeatable); default: "
                             + "; ".join(DEFAULT_SETTINGS))
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--isolations", type=int, default=2)
    parser.add_argument("--restarts", type=int, default=3, help="follower kill+restart rounds")
    parser.add_argument("--steady", type=float, default=30.0, help="seconds of fault-free load")
    parser.add_argument("--saturate-batch-size", type=int, default=1000)
    parser.add_argument("--saturate-concurrency", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate", type=float, default=None, help="readings/s cap of the load")
    parser.add_argument("--trace", action="store_true",
                        help="lay out each kill round from the nodes' election-trace lines "
                             "(nodes of another checkout may not write them)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    results = []
    for item in args.setting or DEFAULT_SETTINGS:
        name, _, flags = item.partition("=")
        name, _, src = name.partition("@")
        print(f"--- {name}: lithair serve {flags}" + (f" (nodes from {src})" if src else ""),
              file=sys.stderr)
        results.append(run_setting(name, tuple(flags.split()), args, src))
    print_table(results)
    out = args.out or RESULTS_DIR / f"failover-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "failover",
        "command": " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
        "load": {"batch_size": args.batch_size, "concurrency": args.concurrency,
                 "rate": args.rate},
        "results": results,
    }, indent=1) + "\n")
    print(f"wrote {out}")
    sys.exit(0 if all(r["integrity"]["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
