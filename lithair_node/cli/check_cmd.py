"""`lithair check --data-dir DIR`: the state of a node's journal and snapshot, and any damage.
Read-only; run it on a stopped node (a running one is still writing)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from lithair_node.node.raft.data_dir_check import inspect_data_dir


@click.command()
@click.option("--data-dir", required=True, envvar="LITHAIR_DATA_DIR", show_envvar=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The node's data dir (the one given to `lithair serve`).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def check(data_dir: Path, as_json: bool) -> None:
    """Print the journal's segments, first and last index, term, vote, durable and commit
    index, the snapshot's index, and any damage.

    Exits 1 on damage a node would refuse to start on (or start missing entries); a torn
    tail, which the next start cuts off, is reported but is not damage."""
    report = inspect_data_dir(data_dir)
    click.echo(json.dumps(report, indent=2) if as_json else render(report))
    sys.exit(0 if report["ok"] else 1)


def render(report: dict[str, Any]) -> str:
    journal, snapshot = report["journal"], report["snapshot"]
    lines = [f"data dir      {report['data_dir']}",
             f"journal       {journal['directory']}"
             + ("" if journal["exists"] else " (missing: a fresh node)")]
    for segment in journal["segments"]:
        lines.append("  segment     " + "  ".join(f"{key}={value}" for key, value in segment.items()))
    lines += [
        f"  entries     {journal['entries']} (index {journal['first_index']} - "
        f"{journal['last_index']})",
        f"  term        {journal['term']}   voted for {journal['voted_for']}",
        f"  durable     {journal['durable_index']}   commit index (saved) "
        f"{journal['commit_index']}",
    ]
    if snapshot["exists"]:
        lines.append(f"snapshot      {snapshot['file']}: index {snapshot.get('last_index')}, "
                     f"{snapshot.get('readings')} readings, {snapshot['bytes']} bytes")
    else:
        lines.append("snapshot      none")
    if report["legacy_journal"]:
        lines.append("legacy        raft.journal (PySyncObj's): migrated at the next start")
    lines += [f"repairable    {line}" for line in report["repairable"]]
    lines += [f"DAMAGE        {line}" for line in report["damage"]]
    lines.append("ok" if report["ok"] else "damaged: a node would refuse to start on this dir "
                 "or miss entries (restore it from a healthy member)")
    return "\n".join(lines)
