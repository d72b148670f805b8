"""InfluxDB 1.x (Debian's `influxdb`, 1.6) as a peer in the ingest benchmarks: one node on
loopback in a temp dir, written through its own `/write` API with line protocol carrying
the same readings Lithair gets as JSON. Its WAL is fsync'd on every write (its default)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lithair_node.lab.local_cluster import free_ports
from lithair_node.polling import wait_until

INFLUX_HOWTO = "apt-get install influxdb   (Debian/Ubuntu; provides InfluxDB 1.6)"

Measure = Callable[[argparse.Namespace, str, list[str], dict[str, int], int], dict[str, Any]]


def influx_binary() -> str | None:
    return shutil.which("influxd")


def _query(url: str, q: str) -> bytes:
    data = urllib.parse.urlencode({"q": q}).encode()
    with urllib.request.urlopen(url + "/query", data=data, timeout=5) as response:
        return response.read()


def _pinged(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/ping", timeout=1) as response:
            return response.status == 204
    except OSError:
        return False


def bench_influx(args: argparse.Namespace, batch: int, measure: Measure) -> dict[str, Any]:
    """One run against a fresh InfluxDB; `measure` is ingest_systems.measure_load."""
    binary = influx_binary()
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="bench-influx-", dir=args.tmp) as tmp:
        http_port, rpc_port = free_ports(2)
        env = {**os.environ,
               "INFLUXDB_REPORTING_DISABLED": "true",
               "INFLUXDB_BIND_ADDRESS": f"127.0.0.1:{rpc_port}",
               "INFLUXDB_HTTP_BIND_ADDRESS": f"127.0.0.1:{http_port}",
               "INFLUXDB_HTTP_LOG_ENABLED": "false",
               "INFLUXDB_META_DIR": f"{tmp}/meta",
               "INFLUXDB_DATA_DIR": f"{tmp}/data",
               "INFLUXDB_DATA_WAL_DIR": f"{tmp}/wal",
               "INFLUXDB_MONITOR_STORE_ENABLED": "false",
               # Its defaults refuse writes past 1 GB of cache and 100K values of one tag,
               # which a 100K-sensor run reaches: lifted, so it is measured, not refused.
               "INFLUXDB_DATA_CACHE_MAX_MEMORY_SIZE": str(8 * 1024**3),
               "INFLUXDB_DATA_MAX_VALUES_PER_TAG": "0",
               "INFLUXDB_DATA_MAX_SERIES_PER_DATABASE": "0"}
        with open(Path(tmp) / "influxd.log", "wb") as logf:
            proc = subprocess.Popen([binary, "run"], stdout=logf, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True)
        url = f"http://127.0.0.1:{http_port}"
        try:
            wait_until(lambda: _pinged(url) or None, 60, period_s=0.1, what="influxd /ping")
            _query(url, "CREATE DATABASE bench")
            summary = measure(args, "influx", [url], {"leader": proc.pid}, batch)
            # What InfluxDB holds: every acknowledged reading, or the row says otherwise.
            counted = json.loads(_query(url, 'SELECT count("voltage") FROM "bench"."autogen"."readings"'))
            series = counted["results"][0].get("series") or [{"values": [[0, 0]]}]
            summary["stored_readings"] = int(series[0]["values"][0][1])
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return summary
