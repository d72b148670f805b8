"""Incremental snapshots: segment files written once, a small linked snapshot.lsnap, the
inline stream for a lagging follower, loads that refuse a missing or damaged segment file,
and a power cut at every step of a snapshot leaving the old snapshot or the new one."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pysyncobj import SERIALIZER_STATE

from lithair_node.lab.local_cluster import free_port_run
from lithair_node.machine import snapshot_file
from lithair_node.machine.engine import engine as engine_module
from lithair_node.machine.snapshot_segments import SEGMENTS_DIR
from lithair_node.machine.state import StateMachine
from lithair_node.node.config import NodeConfig
from lithair_node.node.raft.journal import PowerLost, SimulatedDisk
from lithair_node.node.raft.segment_files import SegmentFiles
from lithair_node.node.raft.snapshot_store import SnapshotStore
from tests.machine.state_helpers import ingest_entry
from tests.node.raft.journal.test_durable_file import PowerCutAtCall


class _Node:
    def __init__(self, id: str) -> None:
        self.id = id


@pytest.fixture(autouse=True)
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "SEAL_ROWS", 40)


def _config(data_dir: Path) -> NodeConfig:
    data_dir.mkdir(parents=True, exist_ok=True)
    return NodeConfig(node_id="solo", http_host="127.0.0.1", http_port=8000,
                      raft_address="127.0.0.1:1", peers=(), data_dir=data_dir,
                      raft_password="test-password")


def _feed(state: StateMachine, first: int, count: int, tag: str = "s") -> None:
    for i in range(first, first + count):
        state.apply(ingest_entry(2 + i, [
            {"sensor_id": f"{tag}{j}", "timestamp": i * 10 + j, "temperature": float(i + j) + len(tag)}
            for j in range(25)], key=f"{tag}k{i}"))


def _snapshot(store: SnapshotStore, index: int) -> bool:
    store.serialize((None, (b"", index, 1), (b"", index - 1, 1), {_Node("a:1")}), index)
    while (outcome := store.checkSerializing())[0] == SERIALIZER_STATE.SERIALIZING:
        time.sleep(0.01)
    return bool(outcome[0] == SERIALIZER_STATE.SUCCESS)


def _segment_files(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / SEGMENTS_DIR).iterdir()}


def _restored(data_dir: Path) -> StateMachine:
    state = StateMachine()
    SnapshotStore(_config(data_dir), state).deserialize()
    return state


def test_a_snapshot_writes_only_the_segments_the_last_one_lacked(tmp_path: Path) -> None:
    state = StateMachine()
    _feed(state, 0, 10)
    store = SnapshotStore(_config(tmp_path), state)
    assert _snapshot(store, 12)
    first = _segment_files(tmp_path)
    assert len(first) == store.info["segment_files_written"] == len(state.capture().segments) > 3
    _feed(state, 10, 4)
    assert _snapshot(store, 16)
    second = _segment_files(tmp_path)
    assert first < second
    assert store.info["segment_files_written"] == len(second - first)
    new_bytes = sum((tmp_path / SEGMENTS_DIR / name).stat().st_size for name in second - first)
    manifest = (tmp_path / "snapshot.lsnap").stat().st_size
    assert store.info["bytes_written"] == manifest + new_bytes < store.info["bytes"]
    header = msgpack_header(tmp_path / "snapshot.lsnap")
    assert header["format"] == snapshot_file.LINKED_FORMAT
    assert [ref["name"] for ref in header["segment_files"]] == sorted(second)
    assert _restored(tmp_path).digest() == state.digest()
    # A restarted node does not rewrite what is on disk.
    again = StateMachine()
    store2 = SnapshotStore(_config(tmp_path), again)
    store2.deserialize()
    assert _snapshot(store2, 17) and store2.info["segment_files_written"] == 0


def test_files_the_new_snapshot_no_longer_names_are_deleted(tmp_path: Path) -> None:
    state = StateMachine()
    _feed(state, 0, 6)
    store = SnapshotStore(_config(tmp_path), state)
    assert _snapshot(store, 8)
    old = _segment_files(tmp_path)
    (tmp_path / SEGMENTS_DIR / "000099-0123.lseg.tmp").write_bytes(b"left by a crash")
    other = StateMachine()  # another state: none of its segments is one of ours
    _feed(other, 0, 6, tag="tt")
    store._state = other
    assert _snapshot(store, 9)
    assert not (old & _segment_files(tmp_path))
    assert not any(name.endswith(".tmp") for name in _segment_files(tmp_path))
    assert _restored(tmp_path).digest() == other.digest()


def msgpack_header(path: Path) -> dict[str, Any]:
    import msgpack
    return next(msgpack.Unpacker(io.BytesIO(path.read_bytes()), raw=False,
                                 strict_map_key=False))


@pytest.mark.parametrize("damage", ["missing", "flipped", "short"])
def test_a_bad_segment_file_stops_the_load_naming_it(tmp_path: Path, damage: str) -> None:
    state = StateMachine()
    _feed(state, 0, 6)
    assert _snapshot(SnapshotStore(_config(tmp_path), state), 8)
    victim = sorted((tmp_path / SEGMENTS_DIR).iterdir())[1]
    data = victim.read_bytes()
    if damage == "missing":
        victim.unlink()
    elif damage == "flipped":
        victim.write_bytes(data[:50] + bytes([data[50] ^ 1]) + data[51:])
    else:
        victim.write_bytes(data[:-1])
    with pytest.raises(snapshot_file.SnapshotError, match=victim.name):
        SnapshotStore(_config(tmp_path), StateMachine())


def test_a_lagging_follower_gets_the_inline_stream_and_lays_it_out(tmp_path: Path) -> None:
    state = StateMachine()
    _feed(state, 0, 8)
    leader = SnapshotStore(_config(tmp_path / "a"), state)
    leader._batch = 1000  # many chunks
    assert _snapshot(leader, 10)
    chunks = []
    while True:
        data = leader.getTransmissionData("b")
        assert data is not None
        chunks.append(data)
        if data[2]:
            break
    assert chunks[0][1] and not any(first for _, first, _ in chunks[1:])
    stream = b"".join(chunk for chunk, _, _ in chunks)
    view, meta = snapshot_file.load_bytes(stream)  # self-contained: format 2
    assert len(view.segments) == len(state.capture().segments)
    assert msgpack_header_bytes(stream)["format"] == snapshot_file.FORMAT_VERSION
    assert meta["last"][1] == 10
    follower_state = StateMachine()
    follower = SnapshotStore(_config(tmp_path / "b"), follower_state)
    results = [follower.setTransmissionData(chunk) for chunk in chunks]
    assert results[-1] and not any(results[:-1])
    follower.deserialize()
    assert follower_state.digest() == state.digest()
    assert _segment_files(tmp_path / "b") == _segment_files(tmp_path / "a")
    assert not (tmp_path / "b" / "snapshot.lsnap.incoming").exists()
    assert _restored(tmp_path / "b").digest() == state.digest()


def msgpack_header_bytes(data: bytes) -> dict[str, Any]:
    import msgpack
    return next(msgpack.Unpacker(io.BytesIO(data), raw=False, strict_map_key=False))


def test_an_inline_snapshot_on_disk_still_loads_and_is_relaid(tmp_path: Path) -> None:
    state = StateMachine()
    _feed(state, 0, 6)
    raft_meta = {"last": [b"", 8, 1], "prev": [b"", 7, 1], "cluster": ["a:1"]}
    snapshot_file.write_atomic(tmp_path / "snapshot.lsnap", state.capture(), raft_meta)
    restored = StateMachine()
    store = SnapshotStore(_config(tmp_path), restored)
    store.deserialize()
    assert restored.digest() == state.digest()
    assert _snapshot(store, 9)
    assert msgpack_header(tmp_path / "snapshot.lsnap")["format"] == snapshot_file.LINKED_FORMAT


def _materialise(disk: SimulatedDisk, data_dir: Path, out: Path) -> Path:
    """The durable files of the simulated disk as real files (the loader reads real ones)."""
    for directory in (data_dir, data_dir / SEGMENTS_DIR):
        target = out / directory.relative_to(data_dir)
        target.mkdir(parents=True, exist_ok=True)
        if not disk.exists(str(directory)):
            continue
        for name in disk.list_dir(str(directory)):
            path = str(directory / name)
            if name != SEGMENTS_DIR:
                (target / name).write_bytes(disk.read_file(path))
    return out


def test_a_power_cut_at_any_step_leaves_the_old_snapshot_or_the_new(tmp_path: Path) -> None:
    old, new = StateMachine(), StateMachine()
    _feed(old, 0, 6)
    _feed(new, 0, 6)
    _feed(new, 6, 4)  # new segments beside the old ones
    digests = {old.digest(), new.digest()}
    cut_before = 0
    seen = set()
    while True:
        disk = SimulatedDisk()
        disk.make_dirs(str(tmp_path))
        store = SnapshotStore(_config(tmp_path), old)
        store._io = disk
        store._files = SegmentFiles(tmp_path, disk)
        assert _snapshot(store, 8)
        cutting = PowerCutAtCall(disk, cut_before)
        store._io, store._files = cutting, SegmentFiles(tmp_path, cutting)  # type: ignore[arg-type]
        store._state = new
        finished = _snapshot(store, 12)
        disk.power_cut()
        disk.restore_power()
        out = _materialise(disk, tmp_path, tmp_path / f"cut{cut_before}")
        restored = _restored(out)
        assert restored.digest() in digests, cut_before
        seen.add(restored.digest())
        if finished and disk.power_cuts == 1:  # no cut fell inside the write: done
            break
        cut_before += 1
    assert seen == digests and cut_before > 5
    with pytest.raises(PowerLost):
        PowerCutAtCall(disk, 0).exists("/")


def test_lithair_serve_refuses_to_start_without_a_segment_file(tmp_path: Path) -> None:
    state = StateMachine()
    _feed(state, 0, 6)
    assert _snapshot(SnapshotStore(_config(tmp_path), state), 8)
    victim = sorted((tmp_path / SEGMENTS_DIR).iterdir())[0]
    victim.unlink()
    port = free_port_run(2)
    done = subprocess.run(
        [sys.executable, "-m", "lithair_node", "serve", "--node-id", "solo", "--http",
         f"127.0.0.1:{port}", "--raft", f"127.0.0.1:{port + 1}", "--data-dir", str(tmp_path),
         "--raft-password", "test-password"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"snapshot segment file {victim} is missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_transfer_under_way_survives_the_next_snapshots_clean_up(tmp_path: Path) -> None:
    from lithair_node.machine.snapshot_transfer import InlineReader

    state = StateMachine()
    _feed(state, 0, 6)
    store = SnapshotStore(_config(tmp_path / "a"), state)
    assert _snapshot(store, 8)
    reader = InlineReader(tmp_path / "a" / "snapshot.lsnap")
    head = reader.read(100)
    other = StateMachine()
    _feed(other, 0, 6, tag="tt")
    store._state = other
    assert _snapshot(store, 9)  # deletes every file the first snapshot named
    rest = b"".join(iter(lambda: reader.read(1000), b""))
    reader.close()
    view, _ = snapshot_file.load_bytes(head + rest)
    restored = StateMachine()
    restored.load(view)
    assert restored.digest() == state.digest()


def test_a_damaged_segment_file_ends_the_stream_before_its_trailer(tmp_path: Path) -> None:
    state = StateMachine()
    _feed(state, 0, 6)
    store = SnapshotStore(_config(tmp_path), state)
    assert _snapshot(store, 8)
    victim = sorted((tmp_path / SEGMENTS_DIR).iterdir())[-1]
    data = bytearray(victim.read_bytes())
    data[10] ^= 1
    victim.write_bytes(bytes(data))
    sent = []
    for _ in range(10_000):
        chunk = store.getTransmissionData("b")
        if chunk is None:
            break
        sent.append(chunk)
    assert chunk is None and not any(last for _, _, last in sent)
