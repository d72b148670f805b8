"""The `lithair` command. Subcommands are imported when run (click's documented lazy
group): `lithair serve` does not pay for the imports of backup, restore or the MQTT
bridge, which a restarting node would wait for."""

from __future__ import annotations

import importlib

import click

from lithair_node import __version__

# name -> (module, attribute), in the order `lithair --help` lists them.
COMMANDS = {
    "serve": ("lithair_node.cli.serve_cmd", "serve"),
    "cluster": ("lithair_node.cli.cluster_cmd", "cluster"),
    "status": ("lithair_node.cli.status_cmd", "status"),
    "inject": ("lithair_node.cli.inject_cmd", "inject"),
    "load": ("lithair_node.cli.load_cmd", "load_command"),
    "members": ("lithair_node.cli.members_cmd", "members"),
    "mqtt-bridge": ("lithair_node.cli.mqtt_cmd", "mqtt_bridge"),
    "check": ("lithair_node.cli.check_cmd", "check"),
    "backup": ("lithair_node.cli.backup_cmd", "backup"),
    "restore": ("lithair_node.cli.backup_cmd", "restore_command"),
    "lifecycle": ("lithair_node.cli.lifecycle_cmd", "lifecycle"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command) and command.name == cmd_name, cmd_name
        return command


@click.group(cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="lithair")
def cli() -> None:
    """Lithair Node: a Raft-replicated data node for IoT sensor readings."""


def main() -> None:
    cli(prog_name="lithair")
