"""`lithair load`: historical loading with a progress bar, a checkpoint and resume."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from lithair_node.cli.token_option import token_options
from lithair_node.client.cluster_client import ClusterClient
from lithair_node.client.load import LoadError, LoadReport, load, open_checkpoint
from lithair_node.client.progress_line import progress_line


@click.command(name="load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["intel-lab"]), required=True,
              help="Format of the file.")
@click.option("--node", "nodes", default="http://127.0.0.1:8001", envvar="LITHAIR_NODES",
              show_envvar=True, help="Node URL(s), comma separated; the rest are discovered.")
@click.option("--batch-size", default=5000, type=click.IntRange(1, 10_000),
              help="Lines per batch (kept from the checkpoint when resuming).")
@click.option("--checkpoint", "checkpoint_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Checkpoint side file (default: FILE.lithair-load.json).")
@click.option("--restart", is_flag=True, help="Ignore an existing checkpoint.")
@click.option("--concurrency", default=4, type=click.IntRange(1, 64), help="Batches in flight.")
@click.option("--rate", type=click.FloatRange(1), help="Cap on readings per second.")
@token_options
@click.option("--deadline", default=120.0, type=click.FloatRange(1),
              help="Give up on a batch after this many seconds of retries.")
@click.option("--json", "as_json", is_flag=True, help="Print the final report as JSON.")
def load_command(path: Path, fmt: str, nodes: str, batch_size: int, checkpoint_path: Path | None,
                 restart: bool, concurrency: int, rate: float | None, token: str | None,
                 deadline: float, as_json: bool) -> None:
    """Load a data file into the cluster in batches. Safe to stop (Ctrl-C, crash) and run
    again: it resumes after the last acknowledged batch and never stores a reading twice."""
    checkpoint_path = checkpoint_path or path.with_name(path.name + ".lithair-load.json")
    try:
        checkpoint, notes = open_checkpoint(path, checkpoint_path, fmt, batch_size, restart)
    except LoadError as exc:
        raise click.ClickException(str(exc)) from None
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if checkpoint.next_line > 1:
        click.echo(f"resuming at line {checkpoint.next_line:,} "
                   f"({checkpoint.readings_acked:,} readings acknowledged before)", err=True)
    show_bar = sys.stderr.isatty() and not as_json
    last_line = [0.0]

    def log_progress(report: LoadReport) -> None:
        """Not a terminal (a log): a plain line every 5 s instead of a bar."""
        if not show_bar and not as_json and time.monotonic() - last_line[0] >= 5:
            last_line[0] = time.monotonic()
            fraction = report.bytes_done / max(report.bytes_total, 1)
            click.echo(f"  {fraction * 100:5.1f}%  acked {report.readings_acked:>11,} readings  "
                       f"{_rate(report):>8,.0f}/s  {report.elapsed_s:6.1f}s", err=True)

    stopped_by: list[int] = []

    async def main(on_progress: Callable[[LoadReport], None]) -> LoadReport:
        # Ctrl-C and SIGTERM stop the load the same way: cancelled, checkpoint saved. Our
        # own handlers, so this also holds where SIGINT was inherited as ignored (a
        # background job of a non-interactive shell).
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        assert task is not None
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # no signal handlers (Windows)
                loop.add_signal_handler(signum, lambda s=signum: (stopped_by.append(s),
                                                                  task.cancel()))
        urls = [u.strip() for u in nodes.split(",") if u.strip()]
        async with ClusterClient(urls, token=token, deadline_s=deadline) as client:
            return await load(client, path, checkpoint, checkpoint_path, concurrency=concurrency,
                              rate=rate, on_progress=on_progress)

    try:
        with progress_line(show_bar, total=path.stat().st_size) as show:

            def progress(report: LoadReport) -> None:
                show(report.bytes_done, _bar_text(report))
                log_progress(report)

            report = asyncio.run(main(progress))
            show(report.bytes_done, _bar_text(report))  # the end, not the last tick
    except (KeyboardInterrupt, asyncio.CancelledError):
        click.echo(f"interrupted: checkpoint saved at line {checkpoint.next_line:,} in "
                   f"{checkpoint_path}; run the same command to resume", err=True)
        sys.exit(128 + (stopped_by[0] if stopped_by else signal.SIGINT))
    summary = report.summary()
    summary["checkpoint"] = str(checkpoint_path)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(
            f"{'complete' if report.complete else 'stopped'}: {report.readings_acked:,} readings "
            f"acknowledged ({report.accepted:,} stored, {report.duplicates:,} already stored, "
            f"{report.duplicate_batches} batches already committed) in {report.elapsed_s:.1f} s; "
            f"{report.skipped_lines} unreadable lines skipped"
        )
    if report.failed:
        click.echo(f"error: {report.failed}; the checkpoint is before it: run the same command "
                   "to retry", err=True)
        sys.exit(1)


def _bar_text(report: LoadReport) -> str:
    return f"acked {report.readings_acked:,} readings  {_rate(report):,.0f}/s"


def _rate(report: LoadReport) -> float:
    return report.readings_acked / max(report.elapsed_s, 1e-9)
