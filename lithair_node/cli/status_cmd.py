"""`lithair status`: who leads, terms, indexes, readings and health of every node."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from lithair_node.cli.token_option import token_options
from lithair_node.client.status_table import gather_rows, render_table

DEFAULT_NODES = "http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003"


@click.command()
@click.option("--nodes", default=DEFAULT_NODES, envvar="LITHAIR_NODES", show_envvar=True,
              help="Node HTTP URLs, comma separated (members they know are added).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@token_options
@click.option("--timeout", default=2.0, type=click.FloatRange(0.1), help="Per-node timeout (s).")
def status(nodes: str, as_json: bool, token: str | None, timeout: float) -> None:
    """Show each node's role, leader, term, indexes, readings, lag and health.

    Exits 1 when no node reports a quorum."""
    urls = [u.strip() for u in nodes.split(",") if u.strip()]
    if not urls:
        raise click.UsageError("--nodes is empty")
    rows = asyncio.run(gather_rows(urls, token, timeout))
    quorum = any(r.has_quorum and r.role != "unreachable" for r in rows)
    if as_json:
        click.echo(json.dumps({"nodes": [r.as_dict() for r in rows], "quorum": quorum}, indent=2))
    else:
        click.echo(render_table(rows))
        if not quorum:
            click.echo("no node reports a quorum", err=True)
    sys.exit(0 if quorum else 1)
