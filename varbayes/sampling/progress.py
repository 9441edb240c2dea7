"""A rich progress bar updated between compiled chunks of sampling."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["ChunkProgress"]


class ChunkProgress:
    """Progress of ``total`` steps of ``chains`` chains, with draws/s and divergences.

    A no-op when ``enabled`` is false.
    """

    def __init__(self, total: int, chains: int, tune: int, enabled: bool = True):
        self.total = total
        self.chains = chains
        self.tune = tune
        self.enabled = enabled
        self._progress = None
        self._task = None
        self._start = None
        self._first = None  # (time, steps) after the first chunk, which includes compilation

    def __enter__(self) -> "ChunkProgress":
        self._start = time.perf_counter()
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[speed]} draws/s"),
                TextColumn("divergences: {task.fields[divergences]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(
                self._phase(0), total=self.total * self.chains, speed="-", divergences=0
            )
        return self

    def _phase(self, done: int) -> str:
        what = "Tuning" if done < self.tune else "Sampling"
        return f"{what} {self.chains} chains"

    def update(self, done: int, divergences: int) -> None:
        if self._progress is None:
            return
        now = time.perf_counter()
        if self._first is None:
            self._first = (now, done)
            speed = "-"
        else:
            t0, done0 = self._first
            speed = f"{(done - done0) * self.chains / max(now - t0, 1e-9):,.0f}"
        self._progress.update(
            self._task,
            completed=done * self.chains,
            description=self._phase(done),
            speed=speed,
            divergences=divergences,
        )

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
