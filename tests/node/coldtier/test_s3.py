"""The tier on a real S3-compatible server (moto's, in a process of its own): write, list,
verify, read back, and DuckDB over the same objects through pyarrow's S3 dataset."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow.dataset as ds
import pytest

from lithair_node.node.coldtier import manifest
from lithair_node.node.coldtier.manifest import CorruptColdFile, verify
from lithair_node.node.coldtier.reader import ColdReader
from lithair_node.node.coldtier.store import S3Options, open_store
from lithair_node.node.coldtier.writer import US_PER_DAY, encode, write
from tests.node.coldtier.conftest import BUCKET, DAY0, make_batch


def test_round_trip_through_s3(s3_options: S3Options) -> None:
    store = open_store(f"s3://{BUCKET}/node-1/tier", s3_options)
    batch = make_batch(8_000, days=2.5, seed=4)
    files = write(store, batch, 31)
    assert store.list() == [f.path for f in files]
    assert [store.get(f.path) for f in files] == [d for _, d in encode(batch, 31)]  # bytes as written
    for entry in manifest.unpack(manifest.pack(files)):  # as a follower would get them
        verify(store, entry)
    reader = ColdReader(store, files)
    start, end = DAY0 + US_PER_DAY // 3, DAY0 + 2 * US_PER_DAY
    got = reader.readings("mote-03", start, end, metrics=["temperature", "light"])
    mine = np.flatnonzero((batch.sensor == 3) & (batch.ts >= start) & (batch.ts < end))
    mine = mine[np.argsort(batch.ts[mine])]
    np.testing.assert_array_equal(got.ts, batch.ts[mine])
    np.testing.assert_array_equal(got.values, [batch.metrics["temperature"][mine],
                                               batch.metrics["light"][mine]])

    # DuckDB scans the objects in the bucket (through pyarrow's S3 filesystem: no httpfs).
    tier = ds.dataset(f"{BUCKET}/node-1/tier", filesystem=store.filesystem, format="parquet",
                      partitioning="hive")
    con = duckdb.connect()
    con.register("tier", tier)
    per_day = con.execute("SELECT CAST(day AS VARCHAR), count(*) FROM tier GROUP BY 1 ORDER BY 1").fetchall()
    assert per_day == [(f.day, f.rows) for f in files]

    store.put(files[-1].path, store.get(files[-1].path)[:-1] + b"\0")
    with pytest.raises(CorruptColdFile, match="sha256"):
        verify(store, files[-1])
    store.delete(files[-1].path)
    store.delete(files[-1].path)
    assert store.list() == [f.path for f in files[:-1]]


def test_prefixes_are_separate_tiers(s3_options: S3Options) -> None:
    one = open_store(f"s3://{BUCKET}/a", s3_options)
    two = open_store(f"s3://{BUCKET}/ab", s3_options)
    one.put("day=2004-03-11/part-000000000001.parquet", b"x")
    assert two.list() == []
    assert one.list() == ["day=2004-03-11/part-000000000001.parquet"]
