"""The live progress line of `lithair inject` and `lithair load`, drawn by rich on stderr."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

# Shows progress: (amount done, of the `total` given; what to say besides).
ShowProgress = Callable[[float, str], None]


@contextlib.contextmanager
def progress_line(shown: bool, total: float | None = None) -> Iterator[ShowProgress]:
    """A bar with a percentage (a pulse without a `total`), a text and the elapsed time;
    its last state stays on screen above the final report. When not `shown` (stderr is a
    log or a pipe, or the output is JSON), nothing is drawn at all."""
    if not shown:
        yield lambda done, text: None
        return
    # The text last: on a narrow terminal, rich crops the end of the line.
    columns = (BarColumn(bar_width=24), TaskProgressColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("", total=total)
        yield lambda done, text: progress.update(task, completed=done, description=text)
