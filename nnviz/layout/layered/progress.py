"""Progress on stderr for layouts that take more than a second; silent otherwise.

Nothing is shown when stderr is not a terminal (pipes, CI, tests), and nothing for layouts
that finish within a second, so small drawings never flicker a bar.
"""

from __future__ import annotations

import sys
import time


class LayoutProgress:
    def __init__(self, total: int, what: str = "layout", delay: float = 1.0):
        self.total = max(1, total)
        self.what = what
        self.t0 = time.perf_counter()
        self.delay = delay
        self.enabled = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self._progress = None
        self._task = None
        self._done = 0

    def update(self, done: int, phase: str = "") -> None:
        self._done = done
        if not self.enabled:
            return
        if self._progress is None:
            if time.perf_counter() - self.t0 < self.delay:
                return
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      TextColumn("{task.completed}/{task.total}"),
                                      TimeElapsedColumn(), console=Console(stderr=True),
                                      transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.what, total=self.total)
        desc = f"{self.what}: {phase}" if phase else self.what
        self._progress.update(self._task, completed=min(done, self.total), description=desc)

    def advance(self, by: int = 1) -> None:
        """One more unit done (e.g. one model of a batch)."""
        self.update(self._done + by)

    def phase(self, name: str) -> None:
        """Name the running phase of a big sub-problem (keeps the count)."""
        self.update(self._done, name)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
