"""A snapshot file as the self-contained stream (format 2/3), read piece by piece: what a
lagging follower is sent. A linked snapshot (format 4/5) is expanded on the fly: its header
without the refs, its engine record (format 5: with the hot chunks' rows put back, each
chunk checked as it is read up front), its lifecycle record, then each segment file inline, each
checked against its CRC32C as it is read (a bad one ends the stream before its trailer, so
the follower never installs it). Every file is opened up front: a later snapshot's clean-up
may unlink them meanwhile, and an open file outlives its name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import google_crc32c
import msgpack

from lithair_node.machine import hot_chunks, snapshot_file
from lithair_node.machine.engine.snapshot import with_hot
from lithair_node.machine.msgpack_bin import bin_header
from lithair_node.machine.snapshot_segments import SEGMENTS_DIR, SnapshotError, check_refs

_READ = 1024 * 1024


class InlineReader:
    """file-like read(n) over the inline stream of the snapshot at `path`."""

    def __init__(self, path: Path) -> None:
        self._files: list[BinaryIO] = []
        self._buffer = bytearray()
        try:
            self._pieces = self._open(path)
        except BaseException:
            self.close()
            raise

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._buffer += piece
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def close(self) -> None:
        for file in self._files:
            file.close()
        self._files.clear()

    def _open(self, path: Path) -> Iterator[bytes]:
        manifest = open(path, "rb")  # noqa: SIM115  # closed by close(), with the reader
        self._files.append(manifest)
        unpacker = msgpack.Unpacker(manifest, raw=False, strict_map_key=False,
                                    max_buffer_size=4 * snapshot_file.CHUNK_BYTES)
        header = snapshot_file.read_header(unpacker)
        if header["format"] not in snapshot_file.LINKED_FORMATS:
            manifest.seek(0)
            return iter(lambda: manifest.read(_READ), b"")
        refs = check_refs(header.pop("segment_files"))
        hot_refs = hot_chunks.check_refs(header.pop("hot_files", []))
        lifecycle = bool(header.pop("lifecycle"))
        engine = snapshot_file.load_engine(unpacker, header)
        cycle = snapshot_file.load_blob(unpacker, ["lifecycle"]) if lifecycle else b""
        directory = path.parent / SEGMENTS_DIR
        hot = hot_chunks.read(directory, hot_refs)  # read now: clean-up may unlink them
        if hot is not None:
            try:
                engine = with_hot(engine, hot)
            except ValueError as exc:
                raise SnapshotError(f"snapshot {path} is corrupt: {exc}") from None
        opened = []
        for ref in refs:
            try:
                opened.append(open(directory / ref["name"], "rb"))  # noqa: SIM115
            except OSError as exc:
                raise SnapshotError(f"snapshot segment file {directory / ref['name']}: {exc}") \
                    from None
            self._files.append(opened[-1])
        header["format"] = (snapshot_file.LIFECYCLE_FORMAT if lifecycle
                            else snapshot_file.FORMAT_VERSION)
        return self._expand(header, engine, cycle, list(zip(refs, opened, strict=True)))

    def _expand(self, header: dict[str, Any], engine: bytes, lifecycle: bytes,
                files: list[tuple[dict[str, Any], BinaryIO]]) -> Iterator[bytes]:
        packer = msgpack.Packer(use_bin_type=True)
        yield packer.pack(header)
        yield _blob(packer, ["engine"], engine)
        if lifecycle:
            yield _blob(packer, ["lifecycle"], lifecycle)
        for ref, file in files:
            size, step = ref["bytes"], snapshot_file.CHUNK_BYTES
            pieces = range(0, size, step)
            yield packer.pack(["segment", ref["number"], len(pieces)])
            crc = 0
            for start in pieces:
                piece = file.read(min(step, size - start))
                if len(piece) != min(step, size - start):
                    raise SnapshotError(f"snapshot segment file {ref['name']} is short")
                crc = google_crc32c.extend(crc, piece)
                yield bin_header(len(piece)) + piece
            if crc != ref["crc32c"] or file.read(1):
                raise SnapshotError(f"snapshot segment file {ref['name']} is corrupt")
        yield packer.pack({"end": True, "segments": len(files)})


def _blob(packer: msgpack.Packer, record: list[Any], blob: bytes) -> bytes:
    pieces = range(0, len(blob), snapshot_file.CHUNK_BYTES)
    out = [packer.pack([*record, len(pieces)])]
    for start in pieces:
        piece = blob[start : start + snapshot_file.CHUNK_BYTES]
        out += [bin_header(len(piece)), piece]
    return b"".join(out)
