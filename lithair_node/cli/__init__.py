"""The `lithair` command."""

from __future__ import annotations

import click

from lithair_node import __version__
from lithair_node.cli.backup_cmd import backup, restore_command
from lithair_node.cli.check_cmd import check
from lithair_node.cli.cluster_cmd import cluster
from lithair_node.cli.inject_cmd import inject
from lithair_node.cli.lifecycle_cmd import lifecycle
from lithair_node.cli.load_cmd import load_command
from lithair_node.cli.members_cmd import members
from lithair_node.cli.mqtt_cmd import mqtt_bridge
from lithair_node.cli.serve_cmd import serve
from lithair_node.cli.status_cmd import status


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="lithair")
def cli() -> None:
    """Lithair Node: a Raft-replicated data node for IoT sensor readings."""


cli.add_command(serve)
cli.add_command(cluster)
cli.add_command(status)
cli.add_command(inject)
cli.add_command(load_command)
cli.add_command(members)
cli.add_command(mqtt_bridge)
cli.add_command(check)
cli.add_command(backup)
cli.add_command(restore_command)
cli.add_command(lifecycle)


def main() -> None:
    cli(prog_name="lithair")
