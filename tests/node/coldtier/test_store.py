"""The local store: atomic puts, listing without partial files, paths kept below the root."""

from __future__ import annotations

from pathlib import Path

import pytest

from lithair_node.node.coldtier.store import StoreError, open_store


def test_put_get_list_delete(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/tier")
    store.put("day=2004-03-11/part-1.parquet", b"one")
    store.put("day=2004-03-12/part-1.parquet", b"two")
    store.put("day=2004-03-11/part-1.parquet", b"ONE")  # replaces
    assert store.get("day=2004-03-11/part-1.parquet") == b"ONE"
    assert store.size("day=2004-03-12/part-1.parquet") == 3
    # A crash mid-write leaves a temporary file: never listed, never matched by *.parquet.
    (tmp_path / "tier" / "day=2004-03-12" / ".part-2.parquet.tmp").write_bytes(b"half")
    assert store.list() == ["day=2004-03-11/part-1.parquet", "day=2004-03-12/part-1.parquet"]
    assert store.list("day=2004-03-12") == ["day=2004-03-12/part-1.parquet"]
    assert sorted(p.name for p in (tmp_path / "tier").rglob("*.parquet")) == ["part-1.parquet"] * 2
    store.delete("day=2004-03-11/part-1.parquet")
    store.delete("day=2004-03-11/part-1.parquet")  # already gone: fine (deletes are retried)
    assert store.list() == ["day=2004-03-12/part-1.parquet"]
    with pytest.raises(FileNotFoundError):
        store.size("day=2004-03-11/part-1.parquet")
    assert open_store(str(tmp_path / "tier")).list() == store.list()  # a plain path, same root


@pytest.mark.parametrize("path", ["../escape", "/abs", "a//b", "a/./b", ""])
def test_paths_stay_below_the_root(tmp_path: Path, path: str) -> None:
    with pytest.raises(StoreError):
        open_store(str(tmp_path)).put(path, b"x")


def test_unknown_schemes_and_bucketless_urls_are_refused() -> None:
    with pytest.raises(StoreError, match="expected"):
        open_store("gs://bucket/x")
    with pytest.raises(StoreError, match="no bucket"):
        open_store("s3:///x")
