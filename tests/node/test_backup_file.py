"""The backup file format: round trip, and every kind of damage refused with its reason."""

from pathlib import Path

import pytest

from lithair_node.machine import backup_file
from lithair_node.machine.state import StateMachine
from lithair_node.node.backup_stream import BackupStream, backup_info, capture_with_digest
from tests.machine.test_snapshot_file import filled_state

CLUSTER = [{"raft": "127.0.0.1:9001", "node_id": "node1", "http": "http://127.0.0.1:8001"}]


def written_backup(tmp_path: Path) -> tuple[Path, StateMachine]:
    state = filled_state()
    view, digest = capture_with_digest(state)
    path = tmp_path / "state.lbak"
    with open(path, "wb") as out:
        size = backup_file.write(view, backup_info(view, digest, CLUSTER), out)
    assert size == path.stat().st_size
    return path, state


def test_round_trip_gives_the_same_state_and_digest(tmp_path: Path) -> None:
    path, state = written_backup(tmp_path)
    info, view = backup_file.read_state(path)
    assert (info.applied_index, info.readings, info.cluster) == (6, 150, CLUSTER)
    restored = StateMachine()
    restored.load(view)
    assert restored.digest() == info.digest == state.digest()
    assert restored.stats() == state.stats()


def test_the_stream_is_the_file_chunk_by_chunk(tmp_path: Path, monkeypatch) -> None:
    path, state = written_backup(tmp_path)
    monkeypatch.setattr("lithair_node.node.backup_stream.CHUNK_BYTES", 1000)
    view, digest = capture_with_digest(state)
    info = backup_info(view, digest, CLUSTER)
    chunks = list(BackupStream(view, info))
    assert max(map(len, chunks)) <= 1000 and len(chunks) > 3
    streamed = tmp_path / "streamed.lbak"
    streamed.write_bytes(b"".join(chunks))
    assert backup_file.verify(streamed).digest == backup_file.verify(path).digest


@pytest.mark.parametrize("where", [0, 20, "middle", -3, -45])
def test_one_flipped_byte_is_refused(tmp_path: Path, where: int | str) -> None:
    path, _ = written_backup(tmp_path)
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if where == "middle" else int(where)
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(backup_file.BackupError, match=r"checksum mismatch|trailer missing"):
        backup_file.read_state(path)


def test_truncated_and_foreign_files_are_refused(tmp_path: Path) -> None:
    path, _ = written_backup(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(backup_file.BackupError, match=r"checksum mismatch|trailer missing"):
        backup_file.verify(path)
    path.write_bytes(b"x" * 100)
    with pytest.raises(backup_file.BackupError):
        backup_file.verify(path)
