"""Progress bars shared by every long loop (rich). Disabled when FROC_NO_PROGRESS=1 or not a TTY-capable run."""

from __future__ import annotations

import os
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column

console = Console(stderr=True)


def enabled() -> bool:
    return os.environ.get("FROC_NO_PROGRESS", "0") != "1"


@contextmanager
def hf_progress(show: bool | None = None):
    """Show transformers' own progress bars ("Loading weights", "Writing model shards") inside the block only
    if ``show`` (default: when froc's are enabled); the previous setting comes back after it."""
    from transformers.utils import logging as hf_logging

    show = enabled() if show is None else show
    was = hf_logging.is_progress_bar_enabled()
    if show == was:
        yield
        return
    (hf_logging.enable_progress_bar if show else hf_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (hf_logging.enable_progress_bar if was else hf_logging.disable_progress_bar)()


@contextmanager
def progress_bar(description: str, total: int | None):
    """Yield an ``advance(n=1, info=None)`` callable that drives one rich progress bar.

    ``description`` and ``info`` are shown as plain text (user strings are data, not markup)."""
    if not enabled():
        yield lambda n=1, **kw: None
        return
    with Progress(
        # descriptions and info carry user strings (paths, method names, hyperparameter values such as "[/]"):
        # printed as text, never parsed as markup
        TextColumn("{task.description}", style="bold blue", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        # a long info (a configuration's hyperparameters) is cut with "…", so the times always show at 80 columns
        TextColumn("{task.fields[info]}", markup=False,
                   table_column=Column(no_wrap=True, overflow="ellipsis", max_width=max(12, console.width // 3))),
        TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)),
        TimeRemainingColumn(table_column=Column(no_wrap=True, min_width=7)),
        console=console,
        transient=False,
    ) as prog:
        task = prog.add_task(description, total=total, info="")

        def advance(n: int = 1, info: str | None = None):
            if info is not None:
                prog.update(task, advance=n, info=info)
            else:
                prog.advance(task, n)

        yield advance
