"""The HTTP part of bench_queries: one node filled through POST /api/v1/batches and every
query timed over loopback; the consistency levels asked of a follower of 3 nodes."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from lithair_node.lab.bench.queries_data import (
    DAY_US,
    START_US,
    location_of,
    sensor_name,
    step_for,
    values_for,
)


async def http_part(readings: int, repeats: int) -> dict[str, Any]:
    import aiohttp
    import msgpack

    from lithair_node.lab.local_cluster import LocalCluster

    sensors = 1_000
    per_sensor = readings // sensors
    step_us = step_for(per_sensor)
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(Path(tmp), nodes=1, extra_args=("--max-pending-readings", "2000000"))
        cluster.start()
        try:
            cluster.wait_ready(timeout_s=60)
            url = cluster.urls[0]
            print(f"\nHTTP: filling one node with {readings:,} readings ...", flush=True)
            started = time.perf_counter()
            step = max(1, 10_000 // sensors)  # ticks per batch: 10,000 readings a batch
            starts = iter(range(0, per_sensor, step))
            timeout = aiohttp.ClientTimeout(total=120)
            async with aiohttp.ClientSession(timeout=timeout) as session:

                async def sender() -> None:
                    # Bodies are built one at a time per sender: memory stays flat.
                    for t0 in starts:
                        t1 = min(per_sensor, t0 + step)
                        sensor = np.repeat(np.arange(sensors), t1 - t0)
                        tick = np.tile(np.arange(t0, t1), sensors)
                        vals = values_for(sensor, tick)
                        ts = (START_US + tick * step_us) / 1e6
                        body = msgpack.packb({"readings": [
                            {"sensor_id": sensor_name(s), "timestamp": t,
                             "location": location_of(s), "humidity": h, "pressure": p,
                             "temperature": tt, "voltage": v}
                            for s, t, h, p, tt, v in zip(sensor.tolist(), ts.tolist(),
                                                         *vals.tolist(), strict=True)]})
                        for _ in range(100):
                            async with session.post(f"{url}/api/v1/batches", data=body, headers={
                                    "Content-Type": "application/msgpack",
                                    "Idempotency-Key": f"fill-{t0}"}) as response:
                                await response.read()
                                if response.status == 200:
                                    break
                            await asyncio.sleep(0.2)
                        else:
                            raise RuntimeError("fill failed")

                await asyncio.gather(*(sender() for _ in range(4)))
            fill_s = time.perf_counter() - started
            print(f"  filled in {fill_s:.0f} s ({readings / fill_s:,.0f} readings/s)", flush=True)
            start_day = START_US + (per_sensor * step_us // 2) // DAY_US * DAY_US
            window = f"from={start_day // 1_000_000}&to={(start_day + DAY_US) // 1_000_000}"
            range_from = (START_US + min(per_sensor // 3, per_sensor - 1_000) * step_us) // 1_000_000
            paths = {
                "health_floor": "/health",
                "latest": "/api/v1/sensors/{s}/latest",
                "range_1000": f"/api/v1/sensors/{{s}}/readings?from={range_from}&limit=1000",
                "hourly_day_sensor": "/api/v1/aggregate?metric=temperature&every=1h&sensor_id={s}"
                                     f"&{window}&fn=mean,min,max,count",
                "hourly_day_location": "/api/v1/aggregate?metric=temperature&every=1h&location={room}"
                                       f"&{window}&fn=mean,min,max,count",
                "stats_sensor_running": "/api/v1/sensors/{s}/stats",
                "stats_sensor_scan": "/api/v1/sensors/{s}/stats?from=0",
                "latest_linearizable": "/api/v1/sensors/{s}/latest?consistency=linearizable",
            }
            results = {}
            async with aiohttp.ClientSession() as session:
                for name, template in paths.items():
                    samples = []
                    rng = np.random.default_rng(3)
                    for i in range(repeats + 3):
                        s = int(rng.integers(0, sensors))
                        path = template.format(s=sensor_name(s), room=location_of(s))
                        began = time.perf_counter()
                        async with session.get(url + path) as response:
                            body = await response.read()
                            assert response.status == 200, (path, body[:200])
                        if i >= 3:
                            samples.append((time.perf_counter() - began) * 1000)
                    samples.sort()
                    results[name] = {"p50_ms": round(statistics.median(samples), 3),
                                     "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 3),
                                     "repeats": repeats, "bytes": len(body)}
                async with session.get(f"{url}/api/v1/stats") as response:
                    node_stats = await response.json()
            assert node_stats["total_readings"] == readings, node_stats
            return {"readings": readings, "fill_s": round(fill_s, 1),
                    "memory_usage_mb": node_stats["memory_usage_mb"], "queries": results}
        finally:
            cluster.stop()


async def consistency_part(repeats: int) -> dict[str, Any]:
    """Latency of each consistency level, asked of a follower of a 3-node cluster."""
    import aiohttp

    from lithair_node.lab.local_cluster import LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(Path(tmp), nodes=3)
        cluster.start()
        try:
            cluster.wait_ready(timeout_s=60)
            leader = cluster.leader_index()
            follower = cluster.urls[next(i for i in range(3) if i != leader)]
            results = {}
            async with aiohttp.ClientSession() as session:
                body = {"readings": [{"sensor_id": "c", "timestamp": t, "temperature": 1.0}
                                     for t in range(100)]}
                async with session.post(f"{follower}/api/v1/batches", json=body) as response:
                    assert response.status == 200
                for name, path in (("health_floor", "/health"),
                                   ("local", "/api/v1/sensors/c/latest"),
                                   ("leader", "/api/v1/sensors/c/latest?consistency=leader"),
                                   ("linearizable",
                                    "/api/v1/sensors/c/latest?consistency=linearizable")):
                    samples = []
                    for i in range(repeats + 3):
                        began = time.perf_counter()
                        async with session.get(follower + path) as response:
                            await response.read()
                            assert response.status == 200
                        if i >= 3:
                            samples.append((time.perf_counter() - began) * 1000)
                    samples.sort()
                    results[name] = {"p50_ms": round(statistics.median(samples), 3),
                                     "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 3),
                                     "repeats": repeats}
            return results
        finally:
            cluster.stop()
