"""Manifest entries: their msgpack form round trips, and verify catches a changed object."""

from __future__ import annotations

from pathlib import Path

import pytest

from lithair_node.node.coldtier import manifest
from lithair_node.node.coldtier.manifest import ColdFile, CorruptColdFile, verify
from lithair_node.node.coldtier.store import open_store
from lithair_node.node.coldtier.writer import write
from tests.node.coldtier.conftest import make_batch


def test_pack_round_trips_and_is_plain_msgpack(tmp_path: Path) -> None:
    files = write(open_store(str(tmp_path)), make_batch(2_000), 5)
    data = manifest.pack(files)
    assert manifest.unpack(data) == files
    assert manifest.pack(manifest.unpack(data)) == data
    with pytest.raises(ValueError, match="version"):
        ColdFile.from_wire([99, *files[0].to_wire()[1:]])


def test_verify_passes_then_catches_flipped_byte_truncation_and_loss(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    files = write(store, make_batch(2_000), 5)
    for entry in files:
        verify(store, entry)
    entry = files[0]
    original = store.get(entry.path)
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    store.put(entry.path, bytes(flipped))
    with pytest.raises(CorruptColdFile, match="sha256"):
        verify(store, entry)
    store.put(entry.path, original[:-10])
    with pytest.raises(CorruptColdFile, match="bytes"):
        verify(store, entry)
    store.delete(entry.path)
    with pytest.raises(CorruptColdFile, match="missing"):
        verify(store, entry)
    store.put(entry.path, original)
    verify(store, entry)
