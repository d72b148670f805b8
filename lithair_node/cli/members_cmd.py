"""`lithair members list|add|remove`: change the Raft membership of a running cluster."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click

_node = click.option("--node", default="http://127.0.0.1:8001", envvar="LITHAIR_NODE",
                     show_envvar=True, help="Any member's HTTP URL.")
_token = click.option("--token", envvar="LITHAIR_TOKEN", help="Bearer token (write/admin).")
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def members() -> None:
    """List, add or remove cluster members.

    To add a node: `lithair members add HOST:PORT`, then start it with --peers listing every
    existing member's Raft address (it catches up by itself). To remove one: `lithair members
    remove HOST:PORT` (on the leader if it is the leader), then stop that node."""


@members.command("list")
@_node
@_token
@_json
def list_members(node: str, token: str | None, as_json: bool) -> None:
    """Show every member: Raft address, id, HTTP URL, leader, connected."""
    _show(_call("GET", f"{node.rstrip('/')}/api/v1/members", token), as_json)


@members.command("add")
@click.argument("raft_address")
@_node
@_token
@_json
def add_member(raft_address: str, node: str, token: str | None, as_json: bool) -> None:
    """Add the node whose Raft address is RAFT_ADDRESS (host:port)."""
    body = json.dumps({"raft_address": raft_address}).encode()
    _show(_call("POST", f"{node.rstrip('/')}/api/v1/members", token, body), as_json)


@members.command("remove")
@click.argument("raft_address")
@_node
@_token
@_json
def remove_member(raft_address: str, node: str, token: str | None, as_json: bool) -> None:
    """Remove the member whose Raft address is RAFT_ADDRESS (host:port)."""
    quoted = urllib.parse.quote(raft_address, safe="")
    _show(_call("DELETE", f"{node.rstrip('/')}/api/v1/members/{quoted}", token), as_json)


def _call(method: str, url: str, token: str | None, body: bytes | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())["error"]
            message = f"{exc.code} {error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {exc.code}"
        raise click.ClickException(message) from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from None


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
