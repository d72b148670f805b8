"""Ingest benchmark: one invocation, side by side, the same generated readings.

    .venv/bin/python scripts/bench_ingest.py            # full run (~8 minutes)
    .venv/bin/python scripts/bench_ingest.py --quick    # 8 s windows, for iterating

Columns (each skipped with a message when asked to or when it cannot run):
  ceiling  StateMachine.apply alone in this process: no HTTP, no Raft (entries pre-validated)
  lithair  a fresh 3-node cluster of `lithair serve` processes on loopback (journals on),
           written through HTTP by several client processes with keep-alive connections
  etcd     a fresh 3-node etcd 3.4 cluster on loopback, written through its HTTP/JSON gateway
           (`/v3/kv/put`) with the same JSON batches as values, at the same concurrency
  lithair-col  the same cluster and readings, sent as column-oriented bodies
           ({"columns": {field: [...]}}, README "Writing")
  naive    PySyncObj with its default settings, one pickled reading per replicated call,
           submitted in-process on the leader (no HTTP: an upper bound of that design)

`--latency` adds, at batch 1,000, the ack latency of Lithair at 10%, 50% and 90% of the
maximum rate measured in the same invocation (open loop: requests are sent on schedule).

Results: a table on stdout and JSON in bench/results/ingest-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
from bench_common import (
    BodyFactory,
    ClientPlan,
    CpuMeter,
    checkout_ref,
    code_env,
    machine_info,
    run_clients,
    summarise,
    utc_now,
    wait_until,
    write_results,
)

from lithair_node.lab.local_cluster import LocalCluster, free_ports
from lithair_node.machine.commands import encode_ingest, make_encoded_batch
from lithair_node.machine.state import LogEntry, StateMachine
from lithair_node.node.ingest.validation import Limits, validate_batch

REPO = Path(__file__).resolve().parents[1]
ETCD_HOWTO = "apt-get install etcd-server   (Debian/Ubuntu; provides etcd 3.4)"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- 1. ceiling -------------------------------------------------------------------------


def bench_ceiling(args: argparse.Namespace, batch: int) -> dict[str, Any]:
    """Apply pre-validated entries (one client batch each) in this process."""
    total = min(args.ceiling_readings, 2_000_000)
    factories = [BodyFactory(c, args.sensors, batch) for c in range(args.clients)]
    entries = []
    for number in range(max(1, total // batch // args.clients)):
        for c, factory in enumerate(factories):
            body = orjson.loads(factory.body(number))
            columns, received = validate_batch(body, Limits(max_readings=10_000))
            encoded = make_encoded_batch(columns, f"bench-c{c}-{number}", received)
            entries.append(encode_ingest([encoded]))
    # Best of three passes on a fresh state: a single pass on a shared 2-core box is easily
    # slowed by a burst from another process, and the ceiling should be the uncontended one.
    elapsed = float("inf")
    for _ in range(3):
        state = StateMachine()
        started = time.perf_counter()
        for index, payload in enumerate(entries, start=1):
            state.apply(LogEntry(index, 1, payload))
        elapsed = min(elapsed, time.perf_counter() - started)
        stored = state.stats()["total_readings"]
        assert stored == len(entries) * batch, "the ceiling run must store every reading"
    return {"readings_per_s": round(stored / elapsed), "readings": stored,
            "seconds": round(elapsed, 3)}


# -- 2. Lithair --------------------------------------------------------------------------


def _plans(args: argparse.Namespace, kind: str, urls: list[str], batch: int, start_at: float,
           stop_at: float, rate_rps: float | None = None, columnar: bool = False) -> list[ClientPlan]:
    per_client = max(1, args.concurrency // args.clients)
    plans = []
    for c in range(args.clients):
        targets = urls if args.target == "all" else [urls[0]]
        # Each client talks to one node (round-robin over clients) to keep its connections warm.
        mine = [targets[c % len(targets)]]
        plans.append(ClientPlan(kind, c, mine, batch, args.sensors, per_client, start_at, stop_at,
                                rate=None if rate_rps is None else rate_rps / args.clients,
                                phase_s=0.0 if rate_rps is None else c / rate_rps,
                                columnar=columnar))
    return plans


def _window(args: argparse.Namespace) -> tuple[float, float, float]:
    start_at = time.time() + 1.0
    lo = start_at + args.warmup
    return start_at, lo, lo + args.duration


def _measure(args: argparse.Namespace, kind: str, urls: list[str], pids: dict[str, int],
             batch: int, rate_rps: float | None = None, columnar: bool = False) -> dict[str, Any]:
    start_at, lo, hi = _window(args)
    plans = _plans(args, kind, urls, batch, start_at, hi + 0.5, rate_rps, columnar)
    meter = CpuMeter(pids)
    import threading

    usage: dict[str, Any] = {}

    def sample() -> None:
        time.sleep(max(0.0, lo - time.time()))
        meter.start()
        time.sleep(max(0.0, hi - time.time()))
        usage.update(meter.stop())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results = run_clients(plans)
    sampler.join()
    summary = summarise(results, batch, (lo, hi))
    summary["processes"] = usage
    return summary


def _lithair_cluster(args: argparse.Namespace, base: Path) -> tuple[LocalCluster, int]:
    env = dict(item.split("=", 1) for item in args.lithair_env)
    cluster = LocalCluster(base, nodes=3, extra_args=tuple(args.lithair_arg), env=env).start()
    try:
        cluster.wait_ready(timeout_s=60)
    except BaseException:
        cluster.stop()
        raise
    leader = cluster.leader_index()
    assert leader is not None
    return cluster, leader


def bench_lithair(args: argparse.Namespace, batch: int, rate_rps: float | None = None,
                  code: Path | None = None, columnar: bool = False) -> dict[str, Any]:
    """`code`: run the nodes from this source tree (a baseline) instead of this checkout."""
    with tempfile.TemporaryDirectory(prefix="bench-lithair-", dir=args.tmp) as tmp:
        if code is not None:
            extra = [f"{k}={v}" for k, v in code_env(code).items()]
            args = argparse.Namespace(**{**vars(args), "lithair_env": [*args.lithair_env, *extra]})
        cluster, leader = _lithair_cluster(args, Path(tmp))
        try:
            order = [leader] + [i for i in range(3) if i != leader]
            urls = [cluster.specs[i].url for i in order]
            pids = {("leader" if i == leader else f"follower{n}"): cluster.processes[i].pid
                    for n, i in enumerate(order)}
            summary = _measure(args, "lithair", urls, pids, batch, rate_rps, columnar)
            stats = cluster.wait_converged(timeout_s=120)
            summary["converged"] = {"total_readings": stats[0]["total_readings"],
                                    "state_digest": stats[0]["state_digest"],
                                    "digests_equal": len({s["state_digest"] for s in stats}) == 1}
            status = cluster.status(leader) or {}
            summary["leader_changes"] = status.get("leader_changes")
        finally:
            cluster.stop()
    return summary


# -- 3. etcd ----------------------------------------------------------------------------


def etcd_binary() -> str | None:
    return shutil.which("etcd")


def _post_json(url: str, payload: dict[str, Any], timeout: float = 2.0) -> Any:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def bench_etcd(args: argparse.Namespace, batch: int) -> dict[str, Any]:
    binary = etcd_binary()
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="bench-etcd-", dir=args.tmp) as tmp:
        client_ports, peer_ports = free_ports(3), free_ports(3)
        names = [f"e{i + 1}" for i in range(3)]
        initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(names, peer_ports, strict=True))
        procs = []
        for i, name in enumerate(names):
            cmd = [binary, "--name", name, "--data-dir", f"{tmp}/{name}",
                   "--listen-client-urls", f"http://127.0.0.1:{client_ports[i]}",
                   "--advertise-client-urls", f"http://127.0.0.1:{client_ports[i]}",
                   "--listen-peer-urls", f"http://127.0.0.1:{peer_ports[i]}",
                   "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_ports[i]}",
                   "--initial-cluster", initial, "--initial-cluster-state", "new",
                   "--initial-cluster-token", "bench",
                   # Batches of 5,000 readings are ~1 MiB as JSON; a 30 s run writes GBs.
                   "--max-request-bytes", str(8 * 1024 * 1024),
                   "--quota-backend-bytes", str(8 * 1024**3),
                   "--log-level", "error"]
            logf = open(f"{tmp}/{name}.log", "wb")  # noqa: SIM115
            procs.append(subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        urls = [f"http://127.0.0.1:{p}" for p in client_ports]
        try:
            def statuses() -> list[Any] | None:
                try:
                    found = [_post_json(u + "/v3/maintenance/status", {}) for u in urls]
                except OSError:
                    return None
                return found if all(s.get("leader") for s in found) else None

            found = wait_until(statuses, 60, "etcd leader")
            leader = next(i for i, s in enumerate(found) if s["leader"] == s["header"]["member_id"])
            order = [leader] + [i for i in range(3) if i != leader]
            pids = {("leader" if i == leader else f"follower{n}"): procs[i].pid
                    for n, i in enumerate(order)}
            summary = _measure(args, "etcd", [urls[i] for i in order], pids, batch)
            after = _post_json(urls[leader] + "/v3/maintenance/status", {})
            summary["db_size_mb"] = round(int(after.get("dbSize", 0)) / 2**20, 1)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return summary


# -- 4. naive PySyncObj -----------------------------------------------------------------


def naive_node(spec: dict[str, Any]) -> None:
    """One process of the naive cluster (run by bench_naive through --naive-node)."""
    import threading

    from pysyncobj import FAIL_REASON, SyncObj, replicated

    class Store(SyncObj):
        def __init__(self, me: str, others: list[str]) -> None:
            super().__init__(me, others)  # every setting at its default
            self.readings: dict[tuple[Any, Any], dict[str, Any]] = {}

        @replicated
        def add(self, reading: dict[str, Any]) -> None:
            self.readings[(reading["sensor_id"], reading["timestamp"])] = reading

    me = spec["addrs"][spec["index"]]
    store = Store(me, [a for a in spec["addrs"] if a != me])
    wait_until(lambda: store._getLeader() is not None and store.isReady(), 60, "naive leader")
    time.sleep(max(0.0, spec["start_at"] - time.time()))
    result: dict[str, Any] = {"leader": store._isLeader()}
    if store._isLeader():
        window = threading.Semaphore(spec["in_flight"])
        acked = [0]

        def done(_res: Any, err: int) -> None:
            if err == FAIL_REASON.SUCCESS:
                acked[0] += 1
            window.release()

        factory = BodyFactory(0, spec["sensors"], 1000)
        marks: dict[str, int] = {}
        number = 0
        while time.time() < spec["hi"]:
            for reading in factory.readings(number):
                window.acquire()
                store.add(reading, callback=done)
            number += 1
            now = time.time()
            if "lo" not in marks and now >= spec["lo"]:
                marks["lo"], marks["lo_t"] = acked[0], now  # type: ignore[assignment]
        marks["hi"], marks["hi_t"] = acked[0], time.time()  # type: ignore[assignment]
        result["readings_per_s"] = round((marks["hi"] - marks["lo"]) / (marks["hi_t"] - marks["lo_t"]))
    else:
        time.sleep(max(0.0, spec["hi"] + 2 - time.time()))
    result["applied"] = len(store.readings)
    Path(spec["out"]).write_text(json.dumps(result))
    store.destroy()
    os._exit(0)


def bench_naive(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-naive-", dir=args.tmp) as tmp:
        addrs = [f"127.0.0.1:{p}" for p in free_ports(3)]
        start_at = time.time() + 4.0
        lo = start_at + args.warmup
        hi = lo + args.duration
        procs = []
        for i in range(3):
            spec = {"index": i, "addrs": addrs, "start_at": start_at, "lo": lo, "hi": hi,
                    "in_flight": 1000, "sensors": args.sensors, "out": f"{tmp}/node{i}.json"}
            procs.append(subprocess.Popen([sys.executable, __file__, "--naive-node", json.dumps(spec)],
                                          start_new_session=True))
        meter = CpuMeter({f"node{i}": p.pid for i, p in enumerate(procs)})
        time.sleep(max(0.0, lo - time.time()))
        meter.start()
        time.sleep(max(0.0, hi - time.time()))
        usage = meter.stop()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        results = [json.loads(Path(f"{tmp}/node{i}.json").read_text())
                   for i in range(3) if Path(f"{tmp}/node{i}.json").exists()]
    leader = next((i for i, r in enumerate(results) if r.get("leader")), None)
    if leader is None:
        return {"error": "no naive leader result", "results": results}
    processes = {("leader" if i == leader else f"follower{n}"): usage[f"node{i}"]
                 for n, i in enumerate([leader] + [i for i in range(3) if i != leader])}
    return {"readings_per_s": results[leader]["readings_per_s"], "processes": processes,
            "applied": [r["applied"] for r in results],
            "latency_ms": {"p50": None, "p95": None, "p99": None}}


# -- table ------------------------------------------------------------------------------


def _cell(value: Any, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def print_table(report: dict[str, Any]) -> None:
    header = (f"{'system':<12}{'batch':>7}{'readings/s':>12}{'x ceil':>8}{'x etcd':>8}{'x base':>8}"
              f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'leader cpu%':>13}{'follower cpu%':>15}"
              f"{'leader MB':>11}{'follower MB':>13}")
    lines = [header, "-" * len(header)]
    runs = report["runs"]
    for row in runs:
        if "error" in row or row.get("readings_per_s") is None:
            lines.append(f"{row['system']:<12}{_cell(row.get('batch'), '{}'):>7}  "
                         f"{row.get('error') or row.get('skipped')}")
            continue
        procs = row.get("processes") or {}
        leader = procs.get("leader", {})
        followers = [v for k, v in procs.items() if k != "leader"]
        f_cpu = sum(f["cpu_pct"] for f in followers) / len(followers) if followers else None
        f_rss = max(f["rss_mb"] for f in followers) if followers else None
        ceil = next((r["readings_per_s"] for r in runs if r["system"] == "ceiling"
                     and r.get("batch") == row.get("batch") and r.get("readings_per_s")), None)
        etcd = next((r["readings_per_s"] for r in runs if r["system"] == "etcd"
                     and r.get("batch") == row.get("batch") and r.get("readings_per_s")), None)
        base = next((r["readings_per_s"] for r in runs if r["system"] == "baseline"
                     and r.get("batch") == row.get("batch") and r.get("readings_per_s")), None)
        rate = row["readings_per_s"]
        lithair_like = row["system"] in ("lithair", "lithair-col", "baseline") and not row.get("rate_pct")
        vs_etcd = rate / etcd if etcd and lithair_like else None
        vs_base = (rate / base if base and row["system"] in ("lithair", "lithair-col")
                   and not row.get("rate_pct") else None)
        lat = row.get("latency_ms") or {}
        name = row["system"] + (f"@{row['rate_pct']}%" if row.get("rate_pct") else "")
        lines.append(
            f"{name:<12}{_cell(row.get('batch'), '{}'):>7}{rate:>12,}"
            f"{_cell(rate / ceil if ceil and row['system'] != 'ceiling' else None, '{:.2f}'):>8}"
            f"{_cell(vs_etcd, '{:.2f}'):>8}{_cell(vs_base, '{:.2f}'):>8}"
            f"{_cell(lat.get('p50'), '{:.1f}'):>9}{_cell(lat.get('p95'), '{:.1f}'):>9}"
            f"{_cell(lat.get('p99'), '{:.1f}'):>9}{_cell(leader.get('cpu_pct'), '{:.0f}'):>13}"
            f"{_cell(f_cpu, '{:.0f}'):>15}{_cell(leader.get('rss_mb'), '{:.0f}'):>11}"
            f"{_cell(f_rss, '{:.0f}'):>13}"
        )
    print("\n".join(lines))


# -- main -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--systems", default="ceiling,lithair,lithair-col,etcd,naive",
                   help="comma-separated subset of ceiling,lithair,lithair-col,etcd,naive")
    p.add_argument("--batch-sizes", default="100,1000,5000")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    p.add_argument("--clients", type=int, default=4, help="client processes")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight, all clients")
    p.add_argument("--sensors", type=int, default=100, help="sensors per client process")
    p.add_argument("--target", choices=["all", "leader"], default="all",
                   help="clients spread over every node, or all write to the leader")
    p.add_argument("--ceiling-readings", type=int, default=1_000_000)
    p.add_argument("--latency", action="store_true",
                   help="also measure ack latency at 10/50/90%% of the max rate (batch 1,000)")
    p.add_argument("--lithair-arg", action="append", default=[],
                   help="extra argument for `lithair serve` (repeatable)")
    p.add_argument("--lithair-env", action="append", default=[],
                   help="KEY=VALUE environment for `lithair serve` (repeatable)")
    p.add_argument("--baseline-ref", help="also run the Lithair column with the nodes running this "
                   "git ref of the repository (e.g. main), in the same invocation")
    p.add_argument("--quick", action="store_true", help="8 s windows, 2 s warm-up")
    p.add_argument("--label", default="", help="free text stored with the results")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--tmp", default=None, help="directory for cluster data (default: system tmp)")
    p.add_argument("--naive-node", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 8.0, 2.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.naive_node:
        naive_node(json.loads(args.naive_node))
        return 0
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    report: dict[str, Any] = {
        "benchmark": "ingest", "date": utc_now(), "machine": machine_info(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "naive_node")},
        "label": args.label, "runs": [],
    }
    report["settings"]["tmp"] = str(args.tmp)
    runs = report["runs"]
    if "etcd" in systems and etcd_binary() is None:
        log(f"etcd column skipped: no `etcd` binary on PATH. Install it with: {ETCD_HOWTO}")
        runs.append({"system": "etcd", "skipped": f"etcd not installed ({ETCD_HOWTO})"})
        systems.remove("etcd")
    baseline_code: Path | None = None
    if args.baseline_ref:
        baseline_code, report["baseline_commit"] = checkout_ref(REPO, args.baseline_ref)

    def measured(system: str, title: str, batch: int, run: Callable[[], dict[str, Any]]) -> None:
        log(title)
        runs.append({"system": system, "batch": batch, **run()})
        if "latency_ms" in runs[-1]:
            log(f"  -> {runs[-1]['readings_per_s']:,} readings/s, p99 {runs[-1]['latency_ms']['p99']} ms")

    for batch in batches:
        if baseline_code is not None and "lithair" in systems:
            measured("baseline", f"lithair at {args.baseline_ref} (baseline), batch {batch}", batch,
                     partial(bench_lithair, args, batch, code=baseline_code))
        if "ceiling" in systems:
            measured("ceiling", f"ceiling, batch {batch}", batch, partial(bench_ceiling, args, batch))
        if "lithair" in systems:
            measured("lithair", f"lithair, batch {batch}", batch, partial(bench_lithair, args, batch))
        if "lithair-col" in systems:
            measured("lithair-col", f"lithair, column-oriented bodies, batch {batch}", batch,
                     partial(bench_lithair, args, batch, columnar=True))
        if "etcd" in systems:
            measured("etcd", f"etcd, batch {batch}", batch, partial(bench_etcd, args, batch))
    if "naive" in systems:
        measured("naive", "naive PySyncObj", 1, partial(bench_naive, args))
    if args.latency:
        top = next((r["readings_per_s"] for r in runs if r["system"] == "lithair"
                    and r.get("batch") == 1000), None)
        if top is None:
            measured("lithair", "latency sweep: measuring the max rate at batch 1000 first", 1000,
                     partial(bench_lithair, args, 1000))
            top = runs[-1]["readings_per_s"]
        for pct in (10, 50, 90):
            rate_rps = top * pct / 100 / 1000
            # The baseline's nodes at the same offered rates, when there is one.
            codes = [("baseline", baseline_code)] if baseline_code is not None else []
            for system, code in [*codes, ("lithair", None)]:
                log(f"{system}: latency at {pct}% of {top:,} readings/s")
                runs.append({"system": system, "batch": 1000, "rate_pct": pct,
                             "offered_readings_per_s": round(rate_rps * 1000),
                             **bench_lithair(args, 1000, rate_rps=rate_rps, code=code)})
    print()
    print(f"bench_ingest  {report['date']}  {report['machine']['cpu']} x{report['machine']['cores']}"
          f"  load at start {report['machine']['load_avg_at_start']}")
    print_table(report)
    if baseline_code is not None:
        shutil.rmtree(baseline_code, ignore_errors=True)
        print(f"baseline = the nodes running {args.baseline_ref} ({report['baseline_commit']})")
    path = write_results(args.out, "ingest", report)
    print(f"\nresults: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
