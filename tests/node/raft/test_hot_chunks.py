"""Hot chunks (snapshot format 5): a snapshot writes only the hot rows appended since the
previous one of the same hot buffer; a cut or a rewrite of the buffer starts a new chunk
list; loads check every chunk; the follower's inline stream and format 4 still work; a
power cut at any step leaves the old snapshot or the new."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import zstandard

from lithair_node.lab.local_cluster import free_port_run
from lithair_node.machine import hot_chunks, snapshot_file
from lithair_node.machine.engine import engine as engine_module
from lithair_node.machine.engine.snapshot import HotColumns
from lithair_node.machine.snapshot_segments import SEGMENTS_DIR
from lithair_node.machine.snapshot_transfer import InlineReader
from lithair_node.machine.state import StateMachine
from lithair_node.node.raft.data_dir_check import inspect_data_dir
from lithair_node.node.raft.journal import SimulatedDisk
from lithair_node.node.raft.node_io import node_file_io
from lithair_node.node.raft.segment_files import SegmentFiles
from lithair_node.node.raft.snapshot_store import SnapshotStore
from tests.node.raft.journal.test_durable_file import PowerCutAtCall
from tests.node.raft.test_snapshot_segments import (
    _config,
    _feed,
    _materialise,
    _restored,
    _snapshot,
    msgpack_header,
)


@pytest.fixture(autouse=True)
def roomy_hot_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "SEAL_ROWS", 400)  # 16 entries of 25 rows a cut


def _hot_files(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / SEGMENTS_DIR).iterdir() if p.suffix == ".lhot"}


def _hot_refs(data_dir: Path) -> list[dict[str, Any]]:
    return list(msgpack_header(data_dir / "snapshot.lsnap")["hot_files"])


def test_a_snapshot_writes_only_the_hot_rows_the_last_one_lacked(tmp_path: Path) -> None:
    state = StateMachine()
    _feed(state, 0, 4)  # 100 hot rows, nothing sealed
    store = SnapshotStore(_config(tmp_path), state)
    assert _snapshot(store, 6)
    first = _hot_refs(tmp_path)
    assert [ref["rows"] for ref in first] == [[0, 100]]
    _feed(state, 4, 3)
    assert _snapshot(store, 9)
    second = _hot_refs(tmp_path)
    assert second[0] == first[0] and [ref["rows"] for ref in second] == [[0, 100], [100, 175]]
    assert store.info["hot_bytes_written"] == second[1]["bytes"] > 0
    assert _hot_files(tmp_path) == {ref["name"] for ref in second}
    assert _restored(tmp_path).digest() == state.digest()
    assert _snapshot(store, 10)  # nothing new: nothing written
    assert store.info["hot_bytes_written"] == 0 and _hot_refs(tmp_path) == second
    # The blob no longer carries the hot columns: the snapshot file stays small.
    header = msgpack_header(tmp_path / "snapshot.lsnap")
    assert header["format"] == snapshot_file.LINKED_FORMAT == 5


def test_a_cut_starts_a_new_chunk_list_and_the_old_chunks_go(tmp_path: Path) -> None:
    state = StateMachine()
    _feed(state, 0, 10)
    store = SnapshotStore(_config(tmp_path), state)
    assert _snapshot(store, 12)
    before = _hot_files(tmp_path)
    _feed(state, 10, 8)  # the cut at 400 rows, then 50 rows of a new buffer
    assert _snapshot(store, 20)
    refs = _hot_refs(tmp_path)
    assert [ref["rows"] for ref in refs] == [[0, 50]]
    assert not (before & _hot_files(tmp_path))
    assert _restored(tmp_path).digest() == state.digest()


def test_a_rewritten_hot_buffer_is_written_whole_again(tmp_path: Path) -> None:
    state = StateMachine()
    _feed(state, 0, 4)
    store = SnapshotStore(_config(tmp_path), state)
    assert _snapshot(store, 6)
    # What a retention pass does: the buffer's arrays replaced (here by a shorter copy).
    engine = state._tables.engine
    hot = engine.hot.view()
    keep = hot.row < 60
    with state.lock:
        engine.hot.load(hot.sensor[:60], hot.ts[:60], hot.row[keep], hot.metric[keep],
                        hot.value[keep])
    assert _snapshot(store, 7)
    assert [ref["rows"] for ref in _hot_refs(tmp_path)] == [[0, 60]]
    restored = _restored(tmp_path)._tables.engine.hot.view()
    assert np.array_equal(restored.ts, hot.ts[:60])
    assert np.array_equal(restored.value, hot.value[keep])


def test_a_restarted_node_reads_its_chunks_and_writes_a_fresh_list(tmp_path: Path) -> None:
    state = StateMachine()
    _feed(state, 0, 3)
    assert _snapshot(SnapshotStore(_config(tmp_path), state), 5)
    _feed(state, 3, 2)
    store = SnapshotStore(_config(tmp_path), state)  # another writer: does not know them
    assert _snapshot(store, 7)
    restored = StateMachine()
    again = SnapshotStore(_config(tmp_path), restored)
    again.deserialize()
    assert restored.digest() == state.digest()
    assert _snapshot(again, 8)  # this writer never saw the buffer: a fresh list
    assert [ref["rows"] for ref in _hot_refs(tmp_path)] == [[0, 125]]
    assert len(_hot_files(tmp_path)) == 1
    # The restored buffer kept its room: appends do not replace its arrays, so the next
    # snapshot writes only the new rows.
    _feed(restored, 5, 1)
    assert _snapshot(again, 9)
    assert [ref["rows"] for ref in _hot_refs(tmp_path)] == [[0, 125], [125, 150]]


@pytest.mark.parametrize("damage", ["missing", "flipped", "short"])
def test_a_bad_hot_chunk_stops_the_load_naming_it(tmp_path: Path, damage: str) -> None:
    state = StateMachine()
    _feed(state, 0, 3)
    store = SnapshotStore(_config(tmp_path), state)
    assert _snapshot(store, 5)
    _feed(state, 3, 2)
    assert _snapshot(store, 7)
    victim = tmp_path / SEGMENTS_DIR / _hot_refs(tmp_path)[1]["name"]
    data = victim.read_bytes()
    if damage == "missing":
        victim.unlink()
    elif damage == "flipped":
        victim.write_bytes(data[:20] + bytes([data[20] ^ 1]) + data[21:])
    else:
        victim.write_bytes(data[:-1])
    with pytest.raises(snapshot_file.SnapshotError, match=f"hot chunk file {victim}"):
        SnapshotStore(_config(tmp_path), StateMachine())
    with pytest.raises(snapshot_file.SnapshotError, match=victim.name):
        InlineReader(tmp_path / "snapshot.lsnap")  # the leader sends nothing either


def test_the_followers_stream_carries_the_hot_rows(tmp_path: Path) -> None:
    state = StateMachine()
    _feed(state, 0, 18)  # segments, and 50 hot rows in two chunks
    leader = SnapshotStore(_config(tmp_path / "a"), state)
    assert _snapshot(leader, 20)
    _feed(state, 18, 2)
    assert _snapshot(leader, 22)
    assert len(_hot_refs(tmp_path / "a")) == 2
    reader = InlineReader(tmp_path / "a" / "snapshot.lsnap")
    stream = b"".join(iter(lambda: reader.read(1000), b""))
    reader.close()
    view, _ = snapshot_file.load_bytes(stream)
    assert view.hot is None
    assert view.engine == state.capture().engine  # the whole blob, byte for byte
    follower = StateMachine()
    follower.load(view)
    assert follower.digest() == state.digest()


def _dump_format_4(view: Any, raft_meta: dict[str, Any], refs: list[dict[str, Any]]) -> bytes:
    """What the previous version wrote: no hot_files, the hot columns in the zstd blob."""
    packer = msgpack.Packer(use_bin_type=True)
    out = io.BytesIO()
    out.write(packer.pack({**snapshot_file._header(view, raft_meta), "format": 4,
                           "lifecycle": False, "segment_files": refs}))
    snapshot_file.dump_blob(packer, out, ["engine_zstd"],
                            zstandard.ZstdCompressor(level=3).compress(view.engine))
    out.write(packer.pack({"end": True, "segments": len(refs)}))
    return out.getvalue()


def test_a_format_4_snapshot_still_loads_and_is_relaid(tmp_path: Path) -> None:
    state = StateMachine()
    _feed(state, 0, 18)
    view = state.capture()
    refs, _, _ = SegmentFiles(tmp_path, node_file_io(_config(tmp_path))).ensure(view.segments)
    raft_meta = {"last": [b"", 20, 1], "prev": [b"", 19, 1], "cluster": ["a:1"]}
    (tmp_path / "snapshot.lsnap").write_bytes(_dump_format_4(view, raft_meta, refs))
    restored = StateMachine()
    store = SnapshotStore(_config(tmp_path), restored)
    store.deserialize()
    assert restored.digest() == state.digest()
    stream = InlineReader(tmp_path / "snapshot.lsnap")
    assert snapshot_file.load_bytes(b"".join(iter(lambda: stream.read(4096), b"")))[0].engine \
        == view.engine
    stream.close()
    assert _snapshot(store, 21) and _hot_refs(tmp_path)[0]["rows"] == [0, 50]
    assert _restored(tmp_path).digest() == state.digest()


def test_a_power_cut_at_any_step_of_an_incremental_chunk(tmp_path: Path) -> None:
    cut_before, seen, digests = 0, set(), set()
    while True:
        state = StateMachine()
        _feed(state, 0, 3)
        disk = SimulatedDisk()
        disk.make_dirs(str(tmp_path))
        store = SnapshotStore(_config(tmp_path), state)
        store._io = disk
        store._files = SegmentFiles(tmp_path, disk)
        assert _snapshot(store, 5)
        old = state.digest()
        _feed(state, 3, 2)
        digests = {old, state.digest()}
        cutting = PowerCutAtCall(disk, cut_before)
        store._io = store._files._io = cutting  # type: ignore[assignment]
        finished = _snapshot(store, 7)
        disk.power_cut()
        disk.restore_power()
        out = _materialise(disk, tmp_path, tmp_path / f"cut{cut_before}")
        assert _restored(out).digest() in digests, cut_before
        seen.add(_restored(out).digest())
        if finished and disk.power_cuts == 1:
            assert [r["rows"] for r in _hot_refs(out)] == [[0, 75], [75, 125]]
            break
        cut_before += 1
    assert seen == digests and cut_before > 3


def test_chunk_codec_round_trip() -> None:
    rng = np.random.default_rng(7)
    n, k = 300, 700
    hot = HotColumns(rng.integers(0, 2**31 - 1, n).astype(np.int32),
                     np.cumsum(rng.integers(0, 10**6, n)).astype(np.int64),
                     np.sort(rng.integers(0, n, k)).astype(np.int32),
                     rng.integers(0, 300, k).astype(np.int32),
                     np.concatenate([np.round(rng.normal(20, 5, k // 2), 2),
                                     rng.normal(0, 1e300, k - k // 2)]))
    lo = int(np.searchsorted(hot.row, 100))
    blob, ref = hot_chunks.encode(hot, (100, n), (lo, k))
    back = hot_chunks.decode(blob, ref)
    for got, want in zip(back.columns(), hot.columns(), strict=True):
        start = 100 if got.shape[0] == n - 100 else lo
        assert got.dtype == want.dtype and np.array_equal(got, want[start:])
    assert ref["name"].startswith("hot-000000100-") and hot_chunks.is_chunk_file(ref["name"])
    with pytest.raises(snapshot_file.SnapshotError, match="malformed"):
        hot_chunks.check_refs([{**ref, "rows": [0, 50]}, ref])


def test_lithair_check_and_serve_refuse_a_missing_hot_chunk(tmp_path: Path) -> None:
    state = StateMachine()
    _feed(state, 0, 3)
    assert _snapshot(SnapshotStore(_config(tmp_path), state), 5)
    victim = tmp_path / SEGMENTS_DIR / _hot_refs(tmp_path)[0]["name"]
    victim.unlink()
    report = inspect_data_dir(tmp_path)
    assert not report["ok"] and f"snapshot hot chunk file {victim} is missing" in report["damage"][0]
    port = free_port_run(2)
    done = subprocess.run(
        [sys.executable, "-m", "lithair_node", "serve", "--node-id", "solo", "--http",
         f"127.0.0.1:{port}", "--raft", f"127.0.0.1:{port + 1}", "--data-dir", str(tmp_path),
         "--raft-password", "test-password"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"snapshot hot chunk file {victim} is missing" in done.stderr
    assert "Traceback" not in done.stderr
