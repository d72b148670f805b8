"""The writer's files: one per UTC day, sorted, zstd, deterministic, and what DuckDB sees."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lithair_node.node.coldtier.store import open_store
from lithair_node.node.coldtier.writer import US_PER_DAY, ColdBatch, encode, write
from tests.node.coldtier.conftest import DAY0, make_batch


def _days(batch: ColdBatch) -> dict[str, int]:
    days, counts = np.unique(batch.ts // US_PER_DAY, return_counts=True)
    return {str(np.datetime64(int(d), "D")): int(c) for d, c in zip(days, counts, strict=True)}


def test_one_file_per_utc_day_sorted_by_sensor_then_ts(tmp_path: Path) -> None:
    batch = make_batch(5_000, days=3.5)
    files = write(open_store(str(tmp_path)), batch, 7)
    assert [f.path for f in files] == [f"day={d}/part-000000000007.parquet" for d in _days(batch)]
    assert {f.day: f.rows for f in files} == _days(batch)
    for f in files:
        meta = pq.ParquetFile(tmp_path / f.path).metadata
        assert meta.row_group(0).column(0).compression == "ZSTD"
        table = pq.read_table(tmp_path / f.path)
        assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
        assert table.schema.field("sensor_id").type == pa.string()
        ids = table["sensor_id"].to_pylist()
        ts = table["ts"].cast(pa.int64()).to_pylist()
        assert list(zip(ids, ts, strict=True)) == sorted(zip(ids, ts, strict=True))
        assert (f.min_ts, f.max_ts) == (min(ts), max(ts))
        assert all(d == f.day for d in {str(np.datetime64(t // US_PER_DAY, "D")) for t in ts})
        assert f.sensors == len(set(ids)) and f.bytes == (tmp_path / f.path).stat().st_size


def test_same_input_same_paths_and_bytes(tmp_path: Path) -> None:
    batch = make_batch(3_000)
    first = encode(batch, 12)
    again = encode(make_batch(3_000), 12)
    assert [(e, d) for e, d in first] == [(e, d) for e, d in again]
    store = open_store(str(tmp_path))
    write(store, batch, 12)
    listed = store.list()
    assert write(store, batch, 12) == [e for e, _ in first]  # a retried write overwrites
    assert store.list() == listed
    assert [store.get(e.path) for e, _ in first] == [d for _, d in first]


def test_other_name_other_files_and_row_order_does_not_matter(tmp_path: Path) -> None:
    batch = make_batch(2_000)
    shuffled = np.random.default_rng(5).permutation(batch.rows)
    mixed = ColdBatch(batch.sensor[shuffled], batch.ts[shuffled], batch.sensor_names, batch.locations,
                      {m: v[shuffled] for m, v in batch.metrics.items()})
    assert [d for _, d in encode(mixed, 3)] == [d for _, d in encode(batch, 3)]
    assert {e.path for e, _ in encode(batch, 4)}.isdisjoint(e.path for e, _ in encode(batch, 3))


def test_triples_give_the_dense_files() -> None:
    batch = make_batch(1_500)
    names = sorted(batch.metrics)
    rows, metrics, values = [], [], []
    for number, name in enumerate(names):
        present = np.flatnonzero(~np.isnan(batch.metrics[name]))
        rows.append(present)
        metrics.append(np.full(present.shape[0], number))
        values.append(batch.metrics[name][present])
    sparse = ColdBatch.from_triples(batch.sensor, batch.ts, batch.sensor_names, batch.locations,
                                    np.concatenate(rows), np.concatenate(metrics),
                                    np.concatenate(values), names)
    assert [d for _, d in encode(sparse, 1)] == [d for _, d in encode(batch, 1)]


def test_duckdb_counts_per_hive_day(tmp_path: Path) -> None:
    batch = make_batch(20_000, days=4.2)
    store = open_store(str(tmp_path))
    write(store, batch, 1)
    late = make_batch(3_000, days=1.0, seed=9)  # a second part in the first day's partition
    write(store, ColdBatch(late.sensor, late.ts, late.sensor_names,
                           late.locations, {"humidity": np.full(late.rows, 40.0)}), 2)
    glob = f"{tmp_path}/**/*.parquet"
    con = duckdb.connect()
    total = con.execute(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning=true, "
                    "union_by_name=true)").fetchone()
    assert total == (batch.rows + late.rows,)
    per_day = con.execute(f"SELECT CAST(day AS VARCHAR), count(*), count(temperature), count(humidity) "
                      f"FROM read_parquet('{glob}', hive_partitioning=true, union_by_name=true) "
                      "GROUP BY day ORDER BY day").fetchall()
    expected = _days(batch)
    first = str(np.datetime64(DAY0 // US_PER_DAY, "D"))
    expected[first] += late.rows
    assert [(d, n) for d, n, _, _ in per_day] == sorted(expected.items())
    assert sum(t for _, _, t, _ in per_day) == int((~np.isnan(batch.metrics["temperature"])).sum())
    assert [h for d, _, _, h in per_day] == [late.rows if d == first else 0 for d, *_ in per_day]
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{glob}', hive_partitioning=true, "
                            "union_by_name=true)").fetchall()
    kinds = {row[0]: row[1] for row in described}
    assert kinds["day"] == "DATE" and kinds["ts"] == "TIMESTAMP WITH TIME ZONE"
    assert kinds["sensor_id"] == "VARCHAR" and kinds["temperature"] == "DOUBLE"
    # `day` is no column of the files: DuckDB takes it from the directory name alone.
    assert "day" not in pq.read_schema(tmp_path / store.list()[0]).names
    nulls = con.execute(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning=true, "
                    "union_by_name=true) WHERE location IS NULL").fetchone()
    assert nulls == (int((batch.sensor == 0).sum() + (late.sensor == 0).sum()),)


def test_bad_batches_are_refused() -> None:
    batch = make_batch(10)
    with pytest.raises(ValueError, match="reserved"):
        encode(ColdBatch(batch.sensor, batch.ts, batch.sensor_names, batch.locations,
                         {"ts": np.ones(10)}), 1)
    with pytest.raises(ValueError, match="out of range"):
        encode(ColdBatch(batch.sensor + 100, batch.ts, batch.sensor_names, batch.locations, {}), 1)
    with pytest.raises(ValueError, match=">= 0"):
        encode(batch, -1)
    assert encode(ColdBatch(batch.sensor[:0], batch.ts[:0], [], [], {}), 1) == []
