"""`lithair cluster up`: run N local nodes in the foreground."""

from __future__ import annotations

import asyncio
import shlex
import signal
import time
from pathlib import Path

import click

from lithair_node.client.demo import run_demo
from lithair_node.client.status_table import gather_rows, render_table
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.lab.ready_wait import wait_ready_unless_stopped
from lithair_node.lab.secret_files import TOKEN_FILE, ensure_secret_file, write_secret
from lithair_node.node.config import read_secret_file

READY_TIMEOUT_S = 60.0


@click.group()
def cluster() -> None:
    """Run a local cluster of nodes on this machine."""


@cluster.command("up")
@click.option("--nodes", "count", default=3, type=click.IntRange(1, 9), help="Number of nodes.")
@click.option("--http-port", default=8001, type=click.IntRange(1, 65535), help="First HTTP port.")
@click.option("--raft-port", default=9001, type=click.IntRange(1, 65535), help="First Raft port.")
@click.option("--host", default="127.0.0.1", help="Address every node binds to.")
@click.option("--data-dir", default="lithair-data", type=click.Path(file_okay=False, path_type=Path),
              help="One sub-directory per node; re-use it to restart the same cluster.")
@click.option("--demo", is_flag=True, help="Once ready, write a small demo load.")
@click.option("--token", envvar="LITHAIR_TOKEN", show_envvar=True,
              help="Bearer token for write/admin routes, stored in <data-dir>/token "
                   "(default: the one already there, else a generated one).")
def up(count: int, http_port: int, raft_port: int, host: str, data_dir: Path, demo: bool,
       token: str | None) -> None:
    """Start the nodes, print their URLs, and run until Ctrl-C / SIGTERM.

    Send SIGHUP to restart nodes that exited (e.g. after you killed one)."""
    # Nodes get the token's file, never the token: a command line shows in `ps`.
    token_file = (write_secret(data_dir / TOKEN_FILE, token) if token
                  else ensure_secret_file(data_dir, TOKEN_FILE))
    token = read_secret_file(token_file)
    local = LocalCluster(data_dir, nodes=count, host=host, http_port=http_port,
                         raft_port=raft_port, token_file=token_file)
    stopping = restart = False

    def on_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    def on_hup(*_: object) -> None:
        nonlocal restart
        restart = True

    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    local.start()
    try:
        click.echo(f"Raft password: {local.password_file}")
        click.echo(f"Token (write/admin routes): {token_file}; the CLI reads it with "
                   f"--data-dir {data_dir} (or LITHAIR_DATA_DIR, or LITHAIR_TOKEN_FILE)")
        for spec in local.specs:
            click.echo(f"{spec.node_id}: {spec.url}  (raft {spec.raft_address}, "
                       f"data {spec.data_dir}, log {spec.data_dir / 'node.log'})")
        click.echo("waiting for a leader...")
        try:
            wait_ready_unless_stopped(local, lambda: stopping, READY_TIMEOUT_S)
        except RuntimeError as exc:  # a node exited
            raise click.ClickException(str(exc)) from None
        except TimeoutError:
            raise click.ClickException(f"cluster not ready after {READY_TIMEOUT_S:g} s; "
                                       "see the node logs") from None
        if demo and not stopping:
            asyncio.run(run_demo(local.urls, token, click.echo))
        if not stopping:
            click.echo(render_table(asyncio.run(gather_rows(local.urls, token))))
            click.echo(f"cluster is up. Try: lithair status | lithair inject --data-dir {data_dir} "
                       f"--node {local.urls[-1]} --count 100000 | Ctrl-C stops every node")
        reported: set[int] = set()
        while not stopping:
            time.sleep(0.2)
            for index in range(count):
                if not local.is_running(index) and index not in reported:
                    reported.add(index)
                    code = local.processes[index].returncode
                    click.echo(f"{local.specs[index].node_id} exited ({_describe(code)}); "
                               f"restart: kill -HUP <this pid>, or run: "
                               f"{shlex.join(local.command(index))}")
            if restart:
                restart = False
                for index in sorted(reported):
                    click.echo(f"restarting {local.specs[index].node_id}")
                    local.start_node(index)
                reported.clear()
    finally:
        click.echo("stopping nodes...")
        local.stop()
        click.echo("stopped")


def _describe(code: int | None) -> str:
    if code is None:
        return "running"
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"
