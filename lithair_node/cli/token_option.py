"""The token options every client command shares (see client/token_lookup.py for the order)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lithair_node.client.token_lookup import TokenFileError, find_token

_OPTIONS = (
    click.option("--token", envvar="LITHAIR_TOKEN", show_envvar=True,
                 help="Bearer token (prefer --token-file: a token here shows in `ps`)."),
    click.option("--token-file", envvar="LITHAIR_TOKEN_FILE", show_envvar=True,
                 type=click.Path(dir_okay=False, path_type=Path), help="Read the token here."),
    click.option("--data-dir", "token_data_dir", envvar="LITHAIR_DATA_DIR", show_envvar=True,
                 type=click.Path(file_okay=False, path_type=Path),
                 help="`cluster up`'s data dir: read its token file (default ./lithair-data)."),
)


def token_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --token, --token-file and --data-dir; the command gets `token` (str | None)."""

    @functools.wraps(command)
    def with_token(*args: Any, token: str | None, token_file: Path | None,
                   token_data_dir: Path | None, **kwargs: Any) -> Any:
        try:
            found = find_token(token, token_file, token_data_dir)
        except TokenFileError as exc:
            raise click.UsageError(str(exc)) from None
        return command(*args, token=found, **kwargs)

    for option in reversed(_OPTIONS):
        with_token = option(with_token)
    return with_token
