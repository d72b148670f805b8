"""`lithair backup` and `lithair restore`: a node's state to a verified file, and a new
cluster's data dirs from one (DESIGN.md: "Backup and restore")."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import click

from lithair_node.cli.token_option import token_options
from lithair_node.client.backup_fetch import fetch_backup
from lithair_node.client.node_api import NO_ANSWER, ApiError
from lithair_node.lab.restore import RestoreError, restore
from lithair_node.machine import backup_file


@click.command()
@click.option("--node", "url", required=True, help="Any node's URL: its applied state is a "
              "consistent cut (no need to ask the leader).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The backup file to write.")
@click.option("--consistency", type=click.Choice(["local", "linearizable"]), default="local",
              help="linearizable: a read barrier first, so the backup holds every write "
                   "acknowledged before it began.")
@click.option("--timeout", "timeout_s", default=30.0, type=click.FloatRange(min=0.1),
              help="Seconds without data before giving up.")
@token_options
def backup(url: str, out: Path, consistency: str, timeout_s: float, token: str | None) -> None:
    """Stream a node's state at one applied index into FILE, verify its checksum."""
    started = time.monotonic()
    try:
        size = asyncio.run(fetch_backup(url, out, token=token, consistency=consistency,
                                        timeout_s=timeout_s))
    except ApiError as exc:
        raise click.ClickException(f"{url} refused the backup: {exc}") from None
    except NO_ANSWER as exc:
        raise click.ClickException(f"no usable answer from {url}: {exc!r}") from None
    try:
        info = backup_file.verify(out)
    except backup_file.BackupError as exc:
        raise click.ClickException(f"the backup received is not valid: {exc}") from None
    click.echo(f"backup {out}: index {info.applied_index} (term {info.applied_term}), "
               f"{info.readings} readings, digest {info.digest}, {size} bytes, "
               f"{time.monotonic() - started:.2f} s")


@click.command("restore")
@click.argument("backup_path", metavar="FILE",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A new (missing or empty) directory: one sub-directory per node.")
@click.option("--nodes", "count", default=3, type=click.IntRange(1, 9), help="Number of nodes.")
@click.option("--http-port", default=8001, type=click.IntRange(1, 65535), help="First HTTP port.")
@click.option("--raft-port", default=9001, type=click.IntRange(1, 65535), help="First Raft port.")
@click.option("--host", default="127.0.0.1", help="Address every node binds to.")
def restore_command(backup_path: Path, data_dir: Path, count: int, http_port: int,
                    raft_port: int, host: str) -> None:
    """Verify FILE and seed a NEW cluster's data dirs with its state."""
    try:
        restored = restore(backup_path, data_dir, nodes=count, host=host, http_port=http_port,
                           raft_port=raft_port)
    except RestoreError as exc:
        raise click.ClickException(str(exc)) from None
    info = restored.info
    click.echo(f"restored index {info.applied_index} (term {info.applied_term}), "
               f"{info.readings} readings, digest {info.digest} into {count} nodes:")
    for spec in restored.cluster.specs:
        click.echo(f"  {spec.node_id}: {spec.data_dir} (http {spec.url}, raft "
                   f"{spec.raft_address})")
    click.echo(f"start it: lithair cluster up --data-dir {data_dir} --nodes {count} "
               f"--http-port {http_port} --raft-port {raft_port} --host {host}")
