"""`lithair members list|add|remove|force`: change the Raft membership of a running cluster,
or force it on stopped nodes that lost their quorum."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lithair_node.cli.node_errors import one_clear_line
from lithair_node.cli.token_option import token_options
from lithair_node.client.blocking_api import BlockingNodeApi
from lithair_node.node.config import ConfigError, parse_host_port
from lithair_node.node.raft.forced_voters import encode_force_file, force_file
from lithair_node.node.raft.journal.durable_file import write_durably

# A membership change waits for the leader to commit it (and may hand leadership over first).
CHANGE_TIMEOUT_S = 30.0

_node = click.option("--node", default="http://127.0.0.1:8001", envvar="LITHAIR_NODE",
                     show_envvar=True, help="Any member's HTTP URL.")
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def members() -> None:
    """List, add or remove cluster members.

    To add a node: `lithair members add HOST:PORT`, then start it with --peers listing every
    existing member's Raft address (it catches up by itself). To remove one: `lithair members
    remove HOST:PORT` (on the leader if it is the leader), then stop that node."""


@members.command("list")
@_node
@token_options
@_json
def list_members(node: str, token: str | None, as_json: bool) -> None:
    """Show every member: Raft address, id, HTTP URL, leader, connected."""
    _show(_call(node, token, BlockingNodeApi.members), as_json)


@members.command("add")
@click.argument("raft_address")
@_node
@token_options
@_json
def add_member(raft_address: str, node: str, token: str | None, as_json: bool) -> None:
    """Add the node whose Raft address is RAFT_ADDRESS (host:port)."""
    _show(_call(node, token, lambda api: api.add_member(raft_address)), as_json)


@members.command("remove")
@click.argument("raft_address")
@_node
@token_options
@_json
def remove_member(raft_address: str, node: str, token: str | None, as_json: bool) -> None:
    """Remove the member whose Raft address is RAFT_ADDRESS (host:port)."""
    _show(_call(node, token, lambda api: api.remove_member(raft_address)), as_json)


@members.command("force")
@click.option("--data-dir", "data_dirs", multiple=True, required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A STOPPED node's data dir (repeat for each node).")
@click.option("--voters", required=True, help="The Raft addresses that remain, comma separated.")
def force_members(data_dirs: tuple[Path, ...], voters: str) -> None:
    """Offline recovery of a cluster that lost its quorum (e.g. members that will never
    come back): on the next start, each node in --data-dir takes --voters as its members,
    whatever its snapshot and journal say. Run it on every surviving node while all of them
    are stopped, with the same --voters, then start them."""
    addresses = sorted({v.strip() for v in voters.split(",") if v.strip()})
    if not addresses:
        raise click.UsageError("--voters is empty")
    try:
        for address in addresses:
            parse_host_port(address, what="voter")
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    for data_dir in data_dirs:
        if not any((data_dir / name).exists() for name in ("journal", "raft.journal", "snapshot.lsnap")):
            raise click.ClickException(f"{data_dir} holds no journal or snapshot: not a node's "
                                       "data dir")
    for data_dir in data_dirs:
        write_durably(force_file(data_dir), encode_force_file(addresses))
        click.echo(f"{force_file(data_dir)}: members on next start: {', '.join(addresses)}")


def _call(node: str, token: str | None,
          call: Callable[[BlockingNodeApi], dict[str, Any]]) -> dict[str, Any]:
    with one_clear_line(node), BlockingNodeApi(node, token=token, timeout_s=CHANGE_TIMEOUT_S) as api:
        return call(api)


def _show(payload: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(payload, indent=2))
        return
    for member in payload["members"]:
        marks = ["leader"] if member["leader"] else []
        if not member.get("connected", True):
            marks.append("disconnected")
        click.echo(f"{member['raft_address']:<24} {member.get('node_id') or '-':<12} "
                   f"{member.get('http_url') or '-':<28} {' '.join(marks)}".rstrip())
    sys.stdout.flush()
