"""msgpack's bin header, for writers that stream a large binary in pieces instead of
packing one copy of it (snapshot_file.py, engine/snapshot.py)."""

from __future__ import annotations


def bin_header(size: int) -> bytes:
    """msgpack's bin 8/16/32 header for `size` bytes (what Packer.pack(bytes) emits)."""
    if size < 1 << 8:
        return b"\xc4" + size.to_bytes(1, "big")
    if size < 1 << 16:
        return b"\xc5" + size.to_bytes(2, "big")
    return b"\xc6" + size.to_bytes(4, "big")
