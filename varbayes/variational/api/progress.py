"""The fit progress bar and the messages printed at the end of a fit."""

from __future__ import annotations

import sys

# imported with the library, as PyMC does: ~30 ms here, and not in a first fit's time
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from varbayes.logs import log

__all__ = ["FitProgress", "log"]


class FitProgress:
    """A rich progress bar showing ``Average Loss = …`` and iterations per second.

    Updated only between compiled chunks; rich redraws it from its own thread,
    so an update costs microseconds.
    """

    def __init__(self, total: int | None, enabled: bool = True):
        # total None: a fit that stops by itself (the bar shows iterations, not a fraction)
        self.total = total
        self.enabled = enabled and (total is None or total > 0)
        self._progress = None
        self._task = None

    def __enter__(self) -> "FitProgress":
        if self.enabled:
            if self.total is None:
                # until converged: no fraction or time remaining to show
                columns = (SpinnerColumn("line"), TextColumn("{task.description}"), TextColumn("{task.completed:,} it"),
                           TimeElapsedColumn(), TextColumn("{task.fields[rate]}"))
            else:
                columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                           MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("<"), TimeRemainingColumn(),
                           TextColumn("{task.fields[rate]}"))
            console = Console(file=sys.stderr)
            if not console.is_terminal:
                console.width = max(console.width, 120)  # a log file or a pipe: room for every column
            self._progress = Progress(
                *columns,
                console=console,
                refresh_per_second=8,
                transient=False,
            )
            self._progress.start()
            # ASCII text, and no column truncated: a character outside rich's fast path (the
            # ellipsis of a truncated column, a braille spinner) loads its Unicode width
            # tables, a tenth of a second at the end of a first fit
            self._task = self._progress.add_task("Average Loss = ...", total=self.total, rate="")
        return self

    def update(self, completed: int, average_loss: float, rate: float) -> None:
        if self._progress is not None:
            self._progress.update(
                self._task,
                completed=completed,
                description=f"Average Loss = {average_loss:,.5g}",
                rate=f"{rate:,.2f} it/s",
            )

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
