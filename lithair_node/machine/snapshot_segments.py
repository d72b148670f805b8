"""Sealed segments as files of their own beside a linked snapshot (format 4).

A segment file holds exactly segment.encode(segment): the bytes an inline snapshot carries
for it. Its name is its seal number plus a hash of those bytes, so a segment that retention
rewrote or renumbered gets a new file, and one that did not change keeps its file across
snapshots (written once). A ref, in the snapshot's header, is
    {"name": "000012-<32 hex of sha256>.lseg", "number": 12, "bytes": n, "crc32c": c}
and loading checks every file's size and CRC32C (hardware CRC: ~2 GB/s, where sha256 ran at
~0.65 GB/s here, too slow for a 2 s restart) before decoding it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import google_crc32c

from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.segment import Segment

SEGMENTS_DIR = "snapshot-segments"
SUFFIX = ".lseg"
_NAME = re.compile(r"^[0-9]{6,}-[0-9a-f]{32}\.lseg$")  # never a path: no "/" nor ".."


class SnapshotError(ValueError):
    pass


def encode_with_ref(segment: Segment) -> tuple[bytes, dict[str, Any]]:
    """The segment's file content and its ref (encode + sha256 + CRC: the writer thread's
    cost, paid once per segment)."""
    blob = segments.encode(segment)
    return blob, ref_of(blob, segment.number)


def ref_of(blob: bytes, number: int) -> dict[str, Any]:
    digest = hashlib.sha256(blob).hexdigest()[:32]
    return {"name": f"{number:06d}-{digest}{SUFFIX}", "number": number, "bytes": len(blob),
            "crc32c": google_crc32c.value(blob)}


def is_segment_file(name: str) -> bool:
    return bool(_NAME.match(name))


def check_refs(found: Any) -> list[dict[str, Any]]:
    """The header's refs, checked for shape (names are file names, numbers in order)."""
    if not isinstance(found, list):
        raise SnapshotError("snapshot segment_files is not a list")
    for position, ref in enumerate(found):
        if not (isinstance(ref, dict) and isinstance(ref.get("name"), str)
                and is_segment_file(ref["name"]) and ref.get("number") == position
                and isinstance(ref.get("bytes"), int) and isinstance(ref.get("crc32c"), int)):
            raise SnapshotError(f"snapshot segment file ref {position} is malformed: {ref!r}")
    return found


def read_verified(directory: Path, ref: dict[str, Any], what: str = "segment") -> bytes:
    """A segment (or hot chunk) file's bytes, or SnapshotError naming the file: a snapshot
    whose segment is missing or damaged is never loaded in part."""
    path, what = directory / ref["name"], f"snapshot {what} file"
    try:
        with open(path, "rb") as file:
            blob = file.read()
    except FileNotFoundError:
        raise SnapshotError(f"{what} {path} is missing") from None
    except OSError as exc:
        raise SnapshotError(f"{what} {path} is unreadable: {exc}") from None
    if len(blob) != ref["bytes"]:
        raise SnapshotError(f"{what} {path} holds {len(blob)} bytes, "
                            f"the snapshot expects {ref['bytes']}")
    if google_crc32c.value(blob) != ref["crc32c"]:
        raise SnapshotError(f"{what} {path} is corrupt (CRC32C mismatch)")
    return blob
