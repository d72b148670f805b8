"""`lithair inject`: a load generator that follows the leader and retries safely."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import click

from lithair_node.cli.token_option import token_options
from lithair_node.client.cluster_client import ClusterClient
from lithair_node.client.inject import InjectReport
from lithair_node.client.inject import inject as run_inject
from lithair_node.client.progress_line import progress_line
from lithair_node.client.sources import FORMATS, file_batches, synthetic_batches


@click.command()
@click.option("--node", "nodes", default="http://127.0.0.1:8001", envvar="LITHAIR_NODES",
              show_envvar=True, help="Node URL(s), comma separated; the rest are discovered.")
@click.option("--sensors", default=100, type=click.IntRange(1), help="Synthetic sensors.")
@click.option("--batch-size", default=1000, type=click.IntRange(1), help="Readings per batch.")
@click.option("--count", type=click.IntRange(1), help="Stop after this many readings.")
@click.option("--duration", type=click.FloatRange(0.1), help="Stop after this many seconds.")
@click.option("--rate", type=click.FloatRange(1), help="Cap on readings per second.")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Replay readings from this file instead of generating them.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="intel-lab")
@click.option("--concurrency", default=4, type=click.IntRange(1), help="Batches in flight.")
@click.option("--encoding", type=click.Choice(["json", "msgpack"]), default="json",
              help="Body format. JSON: a node's typed decoder takes it in one pass.")
@token_options
@click.option("--deadline", default=60.0, type=click.FloatRange(1), help="Give up on a batch after (s).")
@click.option("--seed", default=1, help="Seed of the synthetic readings.")
@click.option("--json", "as_json", is_flag=True, help="Print the final report as JSON.")
def inject(nodes: str, sensors: int, batch_size: int, count: int | None, duration: float | None,
           rate: float | None, path: Path | None, fmt: str, concurrency: int, encoding: str,
           token: str | None, deadline: float, seed: int, as_json: bool) -> None:
    """Write batches of readings and report acked/failed/unknown and ack latency."""
    urls = [u.strip() for u in nodes.split(",") if u.strip()]
    if path is None and count is None and duration is None:
        count = 100_000
    source = (file_batches(path, fmt, batch_size) if path
              else synthetic_batches(sensors, batch_size, seed=seed))

    async def main(on_progress: Callable[[InjectReport], None]) -> InjectReport:
        async with ClusterClient(urls, token=token, encoding=encoding, deadline_s=deadline) as client:
            return await run_inject(client, source, concurrency=concurrency, max_readings=count,
                                    duration_s=duration, rate=rate,
                                    key_prefix=f"inject-{uuid.uuid4().hex[:12]}",
                                    on_progress=on_progress)

    with progress_line(sys.stderr.isatty() and not as_json, total=count) as show:

        def progress(report: InjectReport) -> None:
            show(report.readings["acked"], _progress_text(report))

        report = asyncio.run(main(progress))
        progress(report)  # the end, not the last tick
    summary = report.summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(format_report(summary))
    sys.exit(0 if report.batches["failed"] == 0 and report.batches["unknown"] == 0 else 1)


def _progress_text(report: InjectReport) -> str:
    readings = report.readings
    rate_now = readings["acked"] / max(report.elapsed_s, 1e-9)
    return (f"acked {readings['acked']:,}  failed {readings['failed']:,}  "
            f"unknown {readings['unknown']:,}  sent {readings['sent']:,}  {rate_now:,.0f}/s")


def format_report(summary: dict[str, object]) -> str:
    b, r, lat = summary["batches"], summary["readings"], summary["latency_ms"]
    lines = [
        f"{'':10}{'sent':>12}{'acked':>12}{'failed':>12}{'unknown':>12}",
        f"{'batches':10}{b['sent']:>12,}{b['acked']:>12,}{b['failed']:>12,}{b['unknown']:>12,}",  # type: ignore[index]
        f"{'readings':10}{r['sent']:>12,}{r['acked']:>12,}{r['failed']:>12,}{r['unknown']:>12,}",  # type: ignore[index]
        f"stored {summary['accepted']:,} new readings, {summary['duplicates']:,} duplicates, "
        f"{summary['duplicate_batches']} retried batches already committed, "
        f"{summary['retries']} retries",
        f"{summary['readings_per_s']:,} readings/s over {summary['elapsed_s']} s; ack latency "
        f"p50 {lat['p50']} ms, p95 {lat['p95']} ms, p99 {lat['p99']} ms",  # type: ignore[index]
    ]
    if summary["errors"]:
        lines.append(f"errors: {summary['errors']}")
    return "\n".join(lines)
