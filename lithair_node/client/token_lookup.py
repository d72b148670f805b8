"""Where the CLI finds the HTTP token, first match wins:
1. `--token` / LITHAIR_TOKEN (the secret itself; prefer the next ones, which keep it out of
   `ps` and shell history);
2. `--token-file` / LITHAIR_TOKEN_FILE;
3. `<data dir>/token`, the file `lithair cluster up` writes, for `--data-dir` /
   LITHAIR_DATA_DIR, else ./lithair-data (cluster up's default data dir), if it is there.
None when there is none: the nodes may run without a token."""

from __future__ import annotations

from pathlib import Path

TOKEN_FILE_NAME = "token"
DEFAULT_DATA_DIR = Path("lithair-data")


class TokenFileError(Exception):
    """A token file that was named, or found, cannot be read or is empty."""


def _read(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TokenFileError(f"cannot read token file {path}: {exc.strerror}") from None
    if not token:
        raise TokenFileError(f"token file {path} is empty")
    return token


def find_token(token: str | None, token_file: Path | None, data_dir: Path | None) -> str | None:
    if token:
        return token
    if token_file is not None:
        return _read(token_file)
    # LITHAIR_DATA_DIR may be set for `serve` (a node's own dir, no token file in it): a
    # data dir without a token file means no token, not an error.
    path = (data_dir or DEFAULT_DATA_DIR) / TOKEN_FILE_NAME
    return _read(path) if path.is_file() else None
