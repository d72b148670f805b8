"""Where the cold tier's files live: a local directory or an S3-compatible bucket, behind one
small interface (put atomically, get, list, delete) over pyarrow.fs, so the reader can hand
the same filesystem to pyarrow.dataset.

Paths given to a ColdStore are relative to its root and use "/" (`day=2004-03-11/part-...`).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # imported where used: a node without a cold tier never loads pyarrow
    import pyarrow.fs as pafs

TMP_SUFFIX = ".tmp"  # never ends in .parquet: a glob over the tier cannot pick a partial file


class StoreError(Exception):
    """A tier URL or path the store cannot use."""


@dataclass(frozen=True)
class S3Options:
    """How to reach an S3-compatible store. None: pyarrow's defaults (AWS_* environment,
    instance credentials). `endpoint` may carry a scheme: "http://127.0.0.1:9000"."""

    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"  # given, so pyarrow never asks the EC2 metadata service


class ColdStore:
    """One tier root. Objects are written whole: a reader sees the old bytes or the new ones."""

    def __init__(self, filesystem: pafs.FileSystem, root: str, url: str, *, local: bool) -> None:
        self.filesystem = filesystem
        self.root = root.rstrip("/")
        self.url = url
        self.local = local

    def full_path(self, path: str) -> str:
        """The filesystem path of `path` (what pyarrow.dataset is given)."""
        return f"{self.root}/{_checked(path)}"

    def put(self, path: str, data: bytes) -> None:
        """Write `data` at `path`, replacing what was there, all or nothing."""
        if self.local:
            _put_local(Path(self.full_path(path)), data)
        else:
            # S3 has no rename; one PUT (or a completed multipart upload) is atomic by itself.
            with self.filesystem.open_output_stream(self.full_path(path)) as out:
                out.write(data)

    def get(self, path: str) -> bytes:
        with self.filesystem.open_input_stream(self.full_path(path)) as stream:
            return stream.readall()

    def size(self, path: str) -> int:
        import pyarrow.fs as pafs

        info = self.filesystem.get_file_info(self.full_path(path))
        if info.type != pafs.FileType.File:
            raise FileNotFoundError(path)
        return int(info.size)

    def list(self, prefix: str = "") -> list[str]:
        """Relative paths of the objects under `prefix` (a folder), sorted; partial writes
        (temporary files) left by a crash are not listed."""
        import pyarrow.fs as pafs

        base = self.full_path(prefix) if prefix else self.root
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        found = [info.path for info in self.filesystem.get_file_info(selector)
                 if info.type == pafs.FileType.File]
        cut = len(self.root) + 1
        return sorted(p[cut:] for p in found if not p.endswith(TMP_SUFFIX))

    def delete(self, path: str) -> None:
        """Remove `path`; a path already gone is not an error (deletes get retried)."""
        with contextlib.suppress(FileNotFoundError):
            self.filesystem.delete_file(self.full_path(path))


def open_store(url: str, s3: S3Options | None = None) -> ColdStore:
    """A store for `url`: a local path, file:///path, or s3://bucket[/prefix]."""
    import pyarrow.fs as pafs

    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        root = Path(parts.path if parts.scheme else url).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return ColdStore(pafs.LocalFileSystem(), str(root), url, local=True)
    if parts.scheme != "s3":
        raise StoreError(f"cold tier URL {url!r}: expected a path, file:// or s3://")
    if not parts.netloc:
        raise StoreError(f"cold tier URL {url!r}: no bucket")
    return ColdStore(_s3_filesystem(s3 or S3Options()), f"{parts.netloc}{parts.path}", url, local=False)


def _s3_filesystem(options: S3Options) -> pafs.S3FileSystem:
    import pyarrow.fs as pafs

    endpoint, scheme = options.endpoint, "https"
    if endpoint is not None and "://" in endpoint:
        scheme, endpoint = endpoint.split("://", 1)
    return pafs.S3FileSystem(
        access_key=options.access_key, secret_key=options.secret_key, region=options.region,
        endpoint_override=endpoint, scheme=scheme,
        # Dedicated endpoints (MinIO, moto, Ceph) want path-style bucket addressing.
        force_virtual_addressing=False,
        # An existing bucket is the operator's job; the tier never creates or checks one.
        check_directory_existence_before_creation=False,
    )


def _checked(path: str) -> str:
    """`path` if it stays below the root (the manifest's paths come from the log)."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StoreError(f"cold tier path {path!r}: not a relative path below the root")
    return path


def _put_local(target: Path, data: bytes) -> None:
    """tmp + fsync + rename + fsync of the directory: after a crash, the whole file or the
    old one. New directories are fsync'd into their parents too."""
    _make_dirs(target.parent)
    tmp = target.with_name(f".{target.name}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def _make_dirs(directory: Path) -> None:
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        _fsync_dir(d.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
