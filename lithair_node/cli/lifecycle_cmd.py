"""`lithair lifecycle set FILE.toml | show`: the cluster's retention and rollup policy."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import click
from aiohttp import hdrs

from lithair_node import api
from lithair_node.cli.node_errors import one_clear_line
from lithair_node.cli.token_option import token_options
from lithair_node.client.blocking_api import BlockingNodeApi
from lithair_node.machine.lifecycle.policy import PolicyError, parse_policy

TIMEOUT_S = 30.0  # a policy that adds a rollup is computed from the raw data in apply

_node = click.option("--node", default="http://127.0.0.1:8001", envvar="LITHAIR_NODE",
                     show_envvar=True, help="Any member's HTTP URL.")
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def lifecycle() -> None:
    """How long readings and rollups are kept (replicated: every node ages data alike).

    FILE.toml holds [[rules]] tables, the first matching one applies to a sensor's metric:

    \b
      [[rules]]
      match = { location = "lab" }        # and/or sensor_prefix, metric
      raw = "7d"                          # or "forever"
      tier_after = "1d"                   # optional, shorter than raw
      rollups = [ { every = "1h", keep = "90d" }, { every = "1d", keep = "forever" } ]
    """


@lifecycle.command("set")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_node
@token_options
@_json
def set_policy(file: Path, node: str, token: str | None, as_json: bool) -> None:
    """Replace the policy with FILE's (TOML); an empty file removes every rule."""
    body = policy_from_toml(file)
    answer = _exchange(node, token, hdrs.METH_PUT, json.dumps(body).encode())
    _show(answer, as_json)


@lifecycle.command("show")
@_node
@token_options
@_json
def show_policy(node: str, token: str | None, as_json: bool) -> None:
    """Print the policy in force, the replicated clock and what retention dropped."""
    _show(_exchange(node, token, hdrs.METH_GET, None), as_json)


def policy_from_toml(file: Path) -> dict[str, Any]:
    """{"rules": [...]} from a TOML file, checked as the node will (UsageError if not)."""
    try:
        parsed = tomllib.loads(file.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"{file}: not TOML: {exc}") from None
    body = {"rules": parsed.get("rules", [])} if set(parsed) <= {"rules"} else parsed
    try:
        return parse_policy(body).body()
    except PolicyError as exc:
        raise click.UsageError(f"{file}: {exc}") from None


def _exchange(node: str, token: str | None, method: str, data: bytes | None) -> dict[str, Any]:
    headers = {hdrs.CONTENT_TYPE: api.JSON_TYPE} if data is not None else None
    with one_clear_line(node), BlockingNodeApi(node, token=token, timeout_s=TIMEOUT_S) as client:
        answer = client.run(lambda n: n.request(method, api.LIFECYCLE_SETTINGS, data=data,
                                                headers=headers))
        return answer.json()  # type: ignore[no-any-return]


def _show(payload: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(f"clock: {payload.get('clock') or 'no tick yet'}; "
               f"expired readings: {payload.get('expired_readings', 0)}; rollup rows: "
               + (", ".join(f"{k} {v}" for k, v in payload.get("rollups", {}).items()) or "none"))
    if not payload.get("rules"):
        click.echo("no rules: every reading is kept forever")
    for i, rule in enumerate(payload.get("rules", [])):
        match = ", ".join(f"{k}={v}" for k, v in rule["match"].items()) or "everything"
        rollups = ", ".join(f"{r['every']} for {r['keep']}" for r in rule["rollups"]) or "none"
        tier = f"; tier after {rule['tier_after']}" if rule.get("tier_after") else ""
        click.echo(f"{i + 1}. {match}: raw {rule['raw']}; rollups {rollups}{tier}")
