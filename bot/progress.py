"""A progress bar for the long commands (import, purge, export) when a person watches them in a terminal; nothing at
all otherwise, so that cron jobs and pipes get exactly the lines they got before. Labels are French texts and
carry counts only, never a client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

Advance = Callable[[int, int], None]  # (done, total)


@contextmanager
def progress_bar(label: str) -> Iterator[Advance]:
    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda done, total: None
        return
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
