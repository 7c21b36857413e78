"""Rich progress bars for long steps (torch-free); quiet when output is not a terminal and no console is given."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def make_progress(console: Console | None = None) -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False, style="bold"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}", markup=False),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )


@contextmanager
def progress_bar(description: str, total: int, console: Console | None = None, unit: str = "img") -> Iterator[Callable[[int], None]]:
    """Yield an `advance(n)` callable that moves a bar with a per-second rate."""
    import time

    started = time.perf_counter()
    with make_progress(console) as progress:
        task = progress.add_task(description, total=total, rate="")

        def advance(n: int) -> None:
            done = progress.tasks[0].completed + n
            rate = done / max(time.perf_counter() - started, 1e-9)
            progress.update(task, advance=n, rate=f"{rate:,.0f} {unit}/s")

        yield advance
