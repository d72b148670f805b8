"""The benchmarks' load: pre-encoded request bodies, client processes that send them (to
Lithair or etcd) on a schedule, and the summary of what they measured (readings/s, latency
percentiles).

Client processes send pre-encoded bodies so that the load generator costs little next to the
system under test: a body is a JSON template (made once from `lithair_node.client.sources`) whose
timestamps are rewritten in place with numpy for every batch, so every reading sent is new.
"""

from __future__ import annotations

import asyncio
import base64
import math
import multiprocessing as mp
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from lithair_node.client.sources import synthetic_batches
from lithair_node.lab.bench.line_bodies import LineBodyFactory
from lithair_node.lab.bench.procfs import CpuMeter

START_US = 1_700_000_000_000_000
_PLACEHOLDER = "@" * 17  # 17 characters: "1700000000.123456"
_TS_WIDTH = len(_PLACEHOLDER) + 2  # the placeholder's quotes become two spaces


class BodyFactory:
    """JSON bodies of `batch` readings from `sensors` sensors of one client, round-robin,
    timestamps advancing by `interval_us` per sensor per round: (sensor, ts) never repeats."""

    def __init__(self, client: int, sensors: int, batch: int, interval_us: int = 1000,
                 templates: int = 4, columnar: bool = False) -> None:
        self.batch, self.sensors, self.interval_us = batch, sensors, interval_us
        # Sensor order repeats every lcm(sensors, batch) readings.
        period = sensors // math.gcd(sensors, batch)
        count = period * max(1, math.ceil(templates / period))
        gen = synthetic_batches(sensors, batch, seed=client + 1, start_us=START_US,
                                interval_us=interval_us, prefix=f"c{client:02d}-sensor")
        self._templates: list[bytes] = []
        self._positions: list[np.ndarray] = []
        for _ in range(count):
            readings = next(gen)
            for reading in readings:
                reading["timestamp"] = _PLACEHOLDER
            if columnar:  # {"columns": {field: [...]}}: the same readings, column-oriented
                raw = orjson.dumps({"columns": {k: [r[k] for r in readings] for k in readings[0]}})
            else:
                raw = orjson.dumps({"readings": readings})
            marker = f'"{_PLACEHOLDER}"'.encode()
            offsets, at = [], raw.find(marker)
            while at >= 0:
                offsets.append(at)
                at = raw.find(marker, at + 1)
            assert len(offsets) == batch
            self._templates.append(raw)
            self._positions.append(
                (np.asarray(offsets, dtype=np.int64)[:, None] + np.arange(_TS_WIDTH)).ravel()
            )
        self._powers = 10 ** np.arange(9, -1, -1, dtype=np.int64)
        self._upowers = 10 ** np.arange(5, -1, -1, dtype=np.int64)

    def timestamps_us(self, number: int) -> np.ndarray:
        k = number * self.batch + np.arange(self.batch, dtype=np.int64)
        return START_US + (k // self.sensors) * self.interval_us

    def body(self, number: int) -> bytes:
        """The `number`-th batch of this client."""
        which = number % len(self._templates)
        ts = self.timestamps_us(number)
        seconds, micros = np.divmod(ts, 1_000_000)
        digits = np.empty((self.batch, _TS_WIDTH), dtype=np.uint8)
        digits[:, :10] = (seconds[:, None] // self._powers) % 10 + 48
        digits[:, 10] = ord(".")
        digits[:, 11:17] = (micros[:, None] // self._upowers) % 10 + 48
        digits[:, 17:] = ord(" ")
        out = bytearray(self._templates[which])
        np.frombuffer(out, dtype=np.uint8)[self._positions[which]] = digits.ravel()
        return bytes(out)

    def readings(self, number: int) -> list[dict[str, Any]]:
        return orjson.loads(self.body(number))["readings"]


# -- load-generating client processes ---------------------------------------------------


@dataclass
class ClientPlan:
    kind: str  # "lithair" | "etcd" | "influx"
    client: int
    urls: list[str]
    batch: int
    sensors: int
    in_flight: int
    start_at: float  # time.time() at which to start sending
    stop_at: float
    rate: float | None = None  # requests/s for this client (open loop); None = closed loop
    # Open loop: delay of this client's first send, so that clients with the same rate
    # interleave instead of all sending at the same instants (bursts of `clients` requests).
    phase_s: float = 0.0
    max_batches: int | None = None  # stop after this many batches (closed loop)
    columnar: bool = False  # Lithair's column-oriented body instead of rows
    token: str | None = None
    # Expect: 100-continue on Lithair writes: "never" (as ClusterClient by default),
    # "after_refusal" (ClusterClient(expect_after_refusal=True): from a 429/503 until a
    # request is admitted) or "always".
    expect: str = "never"
    # Closed loop: the pause after a failed request (e.g. 429), before that worker sends again.
    error_pause_s: float = 0.05
    extra: dict[str, Any] = field(default_factory=dict)


def _lithair_request(
    plan: ClientPlan, factory: BodyFactory, number: int
) -> tuple[str, bytes, dict[str, str]]:
    url = plan.urls[number % len(plan.urls)] + "/api/v1/batches"
    headers = {"Content-Type": "application/json",
               "Idempotency-Key": f"bench-c{plan.client}-{number}"}
    if plan.token:
        headers["Authorization"] = f"Bearer {plan.token}"
    return url, factory.body(number), headers


def _etcd_request(
    plan: ClientPlan, factory: BodyFactory, number: int
) -> tuple[str, bytes, dict[str, str]]:
    url = plan.urls[number % len(plan.urls)] + "/v3/kv/put"
    key = base64.b64encode(f"/readings/c{plan.client:02d}/{number:012d}".encode())
    value = base64.b64encode(factory.body(number))
    return url, b'{"key":"' + key + b'","value":"' + value + b'"}', {"Content-Type": "application/json"}


def _influx_request(
    plan: ClientPlan, factory: BodyFactory, number: int
) -> tuple[str, bytes, dict[str, str]]:
    # InfluxDB 1.x's own write API, line protocol, the same readings as the JSON bodies.
    url = plan.urls[number % len(plan.urls)] + "/write?db=bench&precision=ns"
    lines = plan.extra["line_bodies"]
    return url, lines.body(number), {"Content-Type": "text/plain; charset=utf-8"}


_REQUESTS = {"lithair": _lithair_request, "etcd": _etcd_request, "influx": _influx_request}


async def _client_main(plan: ClientPlan) -> dict[str, Any]:
    import aiohttp

    factory = BodyFactory(plan.client, plan.sensors, plan.batch, columnar=plan.columnar)
    if plan.kind == "influx":
        plan.extra["line_bodies"] = LineBodyFactory(factory, plan.batch)
    make = _REQUESTS[plan.kind]
    sent_at: list[float] = []
    latency: list[float] = []
    errors: dict[str, int] = {}
    counter = iter(range(10**12))
    refused = [plan.expect == "always"]  # whether the next write waits for a 100 Continue
    expecting = plan.kind == "lithair" and plan.expect != "never"
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(number: int, scheduled: float) -> None:
            url, body, headers = make(plan, factory, number)
            try:
                async with session.post(url, data=body, headers=headers,
                                        expect100=expecting and refused[0]) as response:
                    await response.read()
                    status = response.status
                    if plan.expect == "after_refusal":
                        refused[0] = status in (429, 503)
                    if status in (429, 503) and "Retry-After" not in response.headers:
                        status = f"{status} without Retry-After"
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = type(exc).__name__
            done = time.time()
            if status in (200, 204):  # InfluxDB answers a write 204
                sent_at.append(scheduled)
                latency.append(done - scheduled)
            else:
                errors[str(status)] = errors.get(str(status), 0) + 1
                if plan.rate is None and plan.error_pause_s:
                    await asyncio.sleep(plan.error_pause_s)

        await asyncio.sleep(max(0.0, plan.start_at - time.time()))
        cpu0, wall0 = time.process_time(), time.time()
        if plan.rate is None:

            async def worker() -> None:
                while time.time() < plan.stop_at:
                    number = next(counter)
                    if plan.max_batches is not None and number >= plan.max_batches:
                        return
                    await one(number, time.time())

            await asyncio.gather(*(worker() for _ in range(plan.in_flight)))
        else:
            # Open loop: send on schedule whether or not earlier requests were answered;
            # latency counts from the scheduled time (no coordinated omission).
            tasks: set[asyncio.Task[None]] = set()
            begin, n = time.time() + plan.phase_s, 0
            while True:
                scheduled = begin + n / plan.rate
                if scheduled >= plan.stop_at:
                    break
                delay = scheduled - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one(next(counter), scheduled))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
            if tasks:
                await asyncio.wait(tasks, timeout=35)
        cpu_pct = 100 * (time.process_time() - cpu0) / max(1e-9, time.time() - wall0)
    return {"sent_at": sent_at, "latency": latency, "errors": errors, "cpu_pct": cpu_pct}


def _client_entry(plan: ClientPlan, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        import uvloop

        result = uvloop.run(_client_main(plan))
    except ImportError:
        result = asyncio.run(_client_main(plan))
    queue.put((plan.client, result))


def run_clients(plans: list[ClientPlan]) -> list[dict[str, Any]]:
    """Run one process per plan; return their results (waits until all are done)."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_client_entry, args=(p, queue), daemon=True) for p in plans]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=max(p.stop_at for p in plans) - time.time() + 90) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
    return [r for _, r in sorted(results, key=lambda item: item[0])]


def summarise(results: list[dict[str, Any]], batch: int, window: tuple[float, float]) -> dict[str, Any]:
    """Readings/s and latency of the requests sent inside `window` (time.time() bounds)."""
    lo, hi = window
    sent = np.concatenate([np.asarray(r["sent_at"], dtype=np.float64) for r in results])
    lat = np.concatenate([np.asarray(r["latency"], dtype=np.float64) for r in results])
    inside = (sent >= lo) & (sent < hi)
    # Throughput: acknowledgements that arrived inside the window.
    acked_at = sent + lat
    acked = int(((acked_at >= lo) & (acked_at < hi)).sum())
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    window_lat = lat[inside] * 1000
    pct = (lambda q: round(float(np.percentile(window_lat, q)), 2)) if window_lat.size else (lambda q: None)
    return {
        "clients_cpu_pct": round(sum(r.get("cpu_pct", 0.0) for r in results), 1),
        "acked_readings": int(lat.size) * batch,
        "readings_per_s": round(acked * batch / (hi - lo)),
        "requests_per_s": round(acked / (hi - lo), 1),
        "requests": int(inside.sum()),
        "latency_ms": {"p50": pct(50), "p95": pct(95), "p99": pct(99),
                       "max": round(float(window_lat.max()), 2) if window_lat.size else None},
        "errors": errors,
    }


def run_metered(plans: list[ClientPlan], pids: dict[str, int], batch: int,
                window: tuple[float, float]) -> dict[str, Any]:
    """run_clients + summarise, with the CPU of `pids` measured over the same window (a
    thread sleeps to its start, then to its end): what a request cost the server."""
    lo, hi = window
    meter, usage = CpuMeter(pids), {}

    def sample() -> None:
        time.sleep(max(0.0, lo - time.time()))
        meter.start()
        time.sleep(max(0.0, hi - time.time()))
        usage.update(meter.stop())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results = run_clients(plans)
    sampler.join()
    return {**summarise(results, batch, window), "processes": usage,
            "latency_ms_by_target": latency_by_target(plans, results, window)}


def latency_by_target(plans: list[ClientPlan], results: list[dict[str, Any]],
                      window: tuple[float, float]) -> dict[str, dict[str, Any]]:
    """p50/p99 of the requests sent inside `window`, by the node each client wrote to (its
    first URL): a write through a follower and one through the leader take other paths."""
    lo, hi = window
    by_url: dict[str, list[np.ndarray]] = {}
    for plan, result in zip(plans, results, strict=True):
        sent = np.asarray(result["sent_at"], dtype=np.float64)
        lat = np.asarray(result["latency"], dtype=np.float64) * 1000
        by_url.setdefault(plan.urls[0], []).append(lat[(sent >= lo) & (sent < hi)])
    out: dict[str, dict[str, Any]] = {}
    for url, parts in by_url.items():
        lat = np.concatenate(parts)
        out[url] = {"requests": int(lat.size), **({
            "p50": round(float(np.percentile(lat, 50)), 2),
            "p99": round(float(np.percentile(lat, 99)), 2)} if lat.size else {})}
    return out
