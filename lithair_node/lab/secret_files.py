"""The secrets `lithair cluster up` keeps in its data dir: the Raft password and the HTTP
token, each in a file of mode 0600 written durably. Nodes get the files' paths, never the
secrets themselves, so no secret shows on a command line (`ps`, /proc/<pid>/cmdline)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from lithair_node.node.raft.journal.durable_file import write_durably
from lithair_node.node.raft.journal.fileio import OsFileIO

PASSWORD_FILE = "raft-password"
TOKEN_FILE = "token"


class _PrivateFileIO(OsFileIO):
    """Creates files readable by their owner only (the temp file too, before the rename)."""

    def open(self, path: str, *, truncate: bool = False) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if truncate else 0)
        fd = os.open(path, flags, 0o600)
        os.fchmod(fd, 0o600)  # an existing temp file keeps its old mode otherwise
        return fd


def write_secret(path: Path, secret: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_durably(path, secret.encode() + b"\n", io=_PrivateFileIO())
    return path


def ensure_secret_file(base_dir: Path, name: str) -> Path:
    """`base_dir/name`, generated once (a random 256-bit secret) and kept afterwards."""
    path = base_dir / name
    if not path.exists():
        write_secret(path, secrets.token_urlsafe(32))
    return path
