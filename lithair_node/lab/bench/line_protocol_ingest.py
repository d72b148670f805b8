"""InfluxDB line protocol beside JSON batches, through HTTP into a 3-node cluster, in one run.

    .venv/bin/python scripts/bench_line_protocol_ingest.py [--batches 300] [--rounds 2]

The same readings in both formats: each client process pre-encodes its batches (from
`lithair_node.client.sources`, 5 metrics and a location per reading) as a JSON row body for
`POST /api/v1/batches` and as line protocol for `POST /api/v2/write` before the clock
starts, so the load generator costs the same for both. Each run starts a fresh cluster and
sends every batch closed-loop (the same clients and requests in flight, spread over the
three nodes, an Idempotency-Key each); readings/s = readings acknowledged / (last ack - first
send). Rounds alternate the formats. Prints a table; writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from lithair_node import api
from lithair_node.lab.bench.load_clients import BodyFactory
from lithair_node.lab.bench.procfs import machine_info
from lithair_node.lab.bench.results import RESULTS_DIR, shown, utc_now, write_results
from lithair_node.lab.local_cluster import LocalCluster

FORMATS = {
    "json": (api.BATCHES, "application/json"),
    "line_protocol": (f"{api.INFLUX_V2_WRITE}?org=bench&bucket=bench", "text/plain"),
}
_TAGS = ("sensor_id", "location")


@dataclass(frozen=True)
class ClientPlan:
    fmt: str
    client: int
    urls: list[str]
    batches: int
    batch: int
    sensors: int
    in_flight: int


def line_protocol_body(readings: list[dict[str, Any]]) -> bytes:
    """The readings as line protocol, ns timestamps, floats spelled as JSON spells them."""
    lines = []
    for reading in readings:
        fields = ",".join(f"{k}={v!r}" for k, v in reading.items() if k not in (*_TAGS, "timestamp"))
        ns = round(reading["timestamp"] * 1_000_000) * 1000
        lines.append(f"iot,sensor_id={reading['sensor_id']},location={reading['location']} {fields} {ns}")
    return ("\n".join(lines) + "\n").encode()


def encoded_bodies(plan: ClientPlan) -> list[bytes]:
    factory = BodyFactory(plan.client, plan.sensors, plan.batch)
    if plan.fmt == "json":
        return [factory.body(n) for n in range(plan.batches)]
    return [line_protocol_body(orjson.loads(factory.body(n))["readings"]) for n in range(plan.batches)]


async def _send_all(plan: ClientPlan, bodies: list[bytes]) -> dict[str, Any]:
    import aiohttp

    path, content_type = FORMATS[plan.fmt]
    numbers = iter(range(len(bodies)))
    latency: list[float] = []
    errors: dict[str, int] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def worker() -> None:
            for number in numbers:
                headers = {"Content-Type": content_type,
                           api.IDEMPOTENCY_KEY: f"{plan.fmt}-c{plan.client}-{number}"}
                url = plan.urls[number % len(plan.urls)] + path
                while True:  # a refused batch (429/503) is retried: every reading is counted once
                    sent = time.perf_counter()
                    async with session.post(url, data=bodies[number], headers=headers) as response:
                        await response.read()
                    if response.status in (200, 204):
                        latency.append(time.perf_counter() - sent)
                        break
                    errors[str(response.status)] = errors.get(str(response.status), 0) + 1
                    await asyncio.sleep(0.05)

        started = time.time()
        await asyncio.gather(*(worker() for _ in range(plan.in_flight)))
    return {"started": started, "finished": time.time(), "latency": latency, "errors": errors}


def _client_entry(plan: ClientPlan, ready: Any, go: Any, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    bodies = encoded_bodies(plan)
    ready.release()
    go.wait()
    result = asyncio.run(_send_all(plan, bodies))
    queue.put({**result, "body_bytes": sum(map(len, bodies))})


def run_format(fmt: str, args: argparse.Namespace, base: Path) -> dict[str, Any]:
    cluster = LocalCluster(base, nodes=3).start()
    try:
        cluster.wait_ready(timeout_s=60)
        ctx = mp.get_context("fork")
        ready, go, queue = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
        plans = [ClientPlan(fmt, c, cluster.urls, args.batches, args.batch, args.sensors,
                            args.concurrency // args.clients) for c in range(args.clients)]
        procs = [ctx.Process(target=_client_entry, args=(p, ready, go, queue), daemon=True) for p in plans]
        for proc in procs:
            proc.start()
        for _ in procs:  # every body encoded before the clock starts
            ready.acquire(timeout=300)
        go.set()
        results = [queue.get(timeout=600) for _ in procs]
        for proc in procs:
            proc.join(timeout=10)
    finally:
        cluster.stop()
    elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
    latency_ms = np.concatenate([np.asarray(r["latency"]) for r in results]) * 1000
    readings = latency_ms.size * args.batch
    errors: dict[str, int] = {}
    for r in results:
        for status, count in r["errors"].items():
            errors[status] = errors.get(status, 0) + count
    return {"format": fmt, "readings": readings, "seconds": round(elapsed, 2),
            "readings_per_s": round(readings / elapsed),
            "mb_sent": round(sum(r["body_bytes"] for r in results) / 1e6, 1),
            "latency_ms": {q: round(float(np.percentile(latency_ms, int(q[1:]))), 1)
                           for q in ("p50", "p99")},
            "refused_then_retried": errors}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=300, help="batches per client process")
    p.add_argument("--batch", type=int, default=1000, help="readings per batch")
    p.add_argument("--clients", type=int, default=2, help="client processes")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight, all clients")
    p.add_argument("--sensors", type=int, default=100, help="sensors per client process")
    p.add_argument("--rounds", type=int, default=2, help="runs of each format, alternating")
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict[str, Any] = {"benchmark": "line_protocol_ingest", "date": utc_now(),
                              "machine": machine_info(), "command": " ".join(sys.argv),
                              "settings": {k: v for k, v in vars(args).items() if k != "out"}, "runs": []}
    for round_number in range(args.rounds):
        for fmt in FORMATS if round_number % 2 == 0 else reversed(FORMATS):
            with tempfile.TemporaryDirectory(prefix="bench-lp-") as tmp:
                run = run_format(fmt, args, Path(tmp))
            report["runs"].append({"round": round_number, **run})
            print(f"round {round_number} {fmt}: {run['readings_per_s']:,} readings/s", file=sys.stderr)
    best = {fmt: max(r["readings_per_s"] for r in report["runs"] if r["format"] == fmt) for fmt in FORMATS}
    report["json_over_line_protocol"] = round(best["json"] / best["line_protocol"], 2)
    print(f"\n{'round':>5}  {'format':<14} {'readings':>9} {'s':>6} {'readings/s':>11} {'MB sent':>8} "
          f"{'p50 ms':>7} {'p99 ms':>7}  refused")
    for r in report["runs"]:
        print(f"{r['round']:>5}  {r['format']:<14} {r['readings']:>9,} {r['seconds']:>6} "
              f"{r['readings_per_s']:>11,} {r['mb_sent']:>8} {r['latency_ms']['p50']:>7} "
              f"{r['latency_ms']['p99']:>7}  {r['refused_then_retried'] or '-'}")
    print(f"best: json {best['json']:,} / line protocol {best['line_protocol']:,} readings/s "
          f"= {report['json_over_line_protocol']}x (target: within 1.5x)")
    print(f"results: {shown(write_results(args.out, 'line-protocol-ingest', report))}")
    return 0
