"""A node's refusal or silence as one clear line for the CLI (click.ClickException)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from lithair_node.client.node_api import NO_ANSWER, ApiError


@contextlib.contextmanager
def one_clear_line(node: str) -> Iterator[None]:
    try:
        yield
    except ApiError as refusal:
        raise click.ClickException(str(refusal)) from None
    except NO_ANSWER as exc:
        raise click.ClickException(f"cannot reach {node}: {exc or type(exc).__name__}") from None
