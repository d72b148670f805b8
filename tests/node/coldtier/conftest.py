"""Fixtures of the cold tier's tests: readings to tier, and a real moto S3 server process."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.fs as pafs
import pytest

from lithair_node.lab.local_cluster import free_port_run
from lithair_node.node.coldtier.store import S3Options
from lithair_node.node.coldtier.writer import US_PER_DAY, ColdBatch
from lithair_node.polling import wait_until

DAY0 = 12_488 * US_PER_DAY  # 2004-03-11, the Intel Lab data's first day
BUCKET = "lithair-cold"


def make_batch(rows: int, sensors: int = 7, days: float = 3.0, seed: int = 0) -> ColdBatch:
    """Readings over `days` UTC days, (sensor, ts) unique, metrics sparse (NaN) as in the
    engine: temperature nearly always, light on one reading in three."""
    rng = np.random.default_rng(seed)
    sensor = rng.integers(0, sensors, rows)
    ts = DAY0 + rng.choice(int(days * US_PER_DAY), rows, replace=False)
    temperature = rng.normal(22.0, 3.0, rows).round(4)
    temperature[rng.random(rows) < 0.05] = np.nan
    light = rng.uniform(0, 1000, rows)
    light[rng.random(rows) < 0.66] = np.nan
    names = [f"mote-{i:02d}" for i in range(sensors)]
    locations = [None if i == 0 else f"room-{i % 3}" for i in range(sensors)]
    return ColdBatch(sensor, ts, names, locations, {"temperature": temperature, "light": light})


@pytest.fixture(scope="module")
def s3_options(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Options]:
    """moto's S3 server in a process of its own on a free loopback port, with one bucket."""
    port = free_port_run(1)
    log_path = Path(tmp_path_factory.mktemp("moto")) / "moto.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited {proc.returncode}: {log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                return True
        except (urllib.error.URLError, ConnectionError):
            return False

    try:
        wait_until(answers, 60, what="moto_server answering")
        options = S3Options(endpoint=endpoint, access_key="testing", secret_key="testing")
        pafs.S3FileSystem(access_key="testing", secret_key="testing", region=options.region,
                          endpoint_override=f"127.0.0.1:{port}", scheme="http",
                          allow_bucket_creation=True).create_dir(BUCKET)
        yield options
    finally:
        proc.terminate()
        proc.wait(timeout=20)
