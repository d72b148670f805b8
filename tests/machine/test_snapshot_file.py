import io

import msgpack
import pytest

from lithair_node.machine import snapshot_file
from lithair_node.machine.state import StateMachine
from tests.machine.state_helpers import ingest_entry


def filled_state() -> StateMachine:
    state = StateMachine()
    for i in range(5):
        state.apply(ingest_entry(2 + i, [
            {"sensor_id": f"s{j}", "timestamp": i * 10 + j, "temperature": float(i), "h": 1.0}
            for j in range(30)
        ], key=f"k{i}"))
    return state


def test_chunked_round_trip(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(snapshot_file, "CHUNK_BYTES", 64)  # many pieces per blob
    state = filled_state()
    path = tmp_path / "snap"
    size = snapshot_file.write_atomic(path, state.capture(), {"last": [b"x", 6, 1]})
    assert size == path.stat().st_size
    assert not (tmp_path / "snap.tmp").exists()
    view, meta = snapshot_file.read_file(path)
    assert meta == {"last": [b"x", 6, 1]}
    restored = StateMachine()
    restored.load(view)
    assert restored.digest() == state.digest()


@pytest.mark.parametrize("cut", [0, 10, 100, -1])
def test_truncated_or_foreign_files_are_refused(tmp_path, cut) -> None:
    data = filled_state().snapshot()
    with pytest.raises(snapshot_file.SnapshotError):
        snapshot_file.load_bytes(data[:cut])
    with pytest.raises(snapshot_file.SnapshotError):
        snapshot_file.load_bytes(b"\x81\xa5magic\xa3bad")


@pytest.mark.parametrize("size", [0, 1, 255, 256, 65535, 65536, 1 << 20])
def test_bin_records_are_byte_identical_to_msgpack(size: int) -> None:
    """The writer emits bin objects by hand (zero-copy): they must be what msgpack packs."""
    blob = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    out = io.BytesIO()
    snapshot_file.dump_blob(msgpack.Packer(use_bin_type=True), out, ["engine"], blob)
    step = snapshot_file.CHUNK_BYTES
    pieces = [blob[i:i + step] for i in range(0, size, step)]
    assert out.getvalue() == b"".join(map(msgpack.packb, [["engine", len(pieces)], *pieces]))


def test_a_snapshot_of_the_format_before_the_engine_is_refused_with_a_reason() -> None:
    old = msgpack.packb({"magic": snapshot_file.MAGIC, "format": 1, "series": 0})
    with pytest.raises(snapshot_file.SnapshotError, match="predates the columnar storage engine"):
        snapshot_file.load_bytes(old)
