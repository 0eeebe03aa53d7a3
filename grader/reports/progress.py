"""The progress of a class being graded: submissions done, rate, time left, crashes so far.

In a terminal, rich's live ``Progress`` display, updated in place. Anywhere else (a pipe, a CI log)
the same facts as plain lines, one each time another tenth of the class is done or ``interval``
seconds have passed, and a last one at the end: no cursor movement, no colour, no control
characters. Which one is rich's decision (``Console.is_terminal``), so rich's environment variables
apply: ``NO_COLOR`` drops the colours, ``FORCE_COLOR`` or ``TTY_COMPATIBLE=1`` force a terminal.
"""

from __future__ import annotations

import math
import threading
import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.text import Text

from grader.results import GradeReport, describe_troubles


class RunProgress:
    """Counts a run's submissions as they finish and shows it; a context manager around the run."""

    def __init__(self, total: int, *, console: Console | None = None, enabled: bool = True,
                 interval: float = 30.0) -> None:
        self.total = total
        self.done = 0
        self.cached = 0
        self.troubles: list[str] = []
        """The trouble kind of each problem that crashed, hit a limit or is missing (``ProblemResult.trouble``)."""
        self.enabled = enabled
        self.console = console or Console(stderr=True, highlight=False)
        self.interval = interval
        self._start = time.monotonic()
        self._last_line = (self._start, 0)
        self._lock = threading.Lock()
        self._live: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> "RunProgress":
        if self.enabled and self.console.is_terminal:
            self._live = Progress(
                TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:.1f}/s"), TextColumn("time left"), TimeRemainingColumn(),
                TextColumn("[red]{task.fields[troubles]}"),
                TextColumn("[dim]{task.fields[cached]} unchanged"),
                console=self.console, transient=False,
            )
            self._task = self._live.add_task("grading", total=self.total, rate=0.0, troubles=describe_troubles(()), cached=0)
            self._live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        elif self.enabled and self.done and self._last_line[1] != self.done:
            self._print_line()

    def update(self, report: GradeReport, *, cached: bool) -> None:
        """One more submission graded (or found unchanged)."""
        with self._lock:
            self.done += 1
            self.cached += cached
            self.troubles += [kind for kind, _ in (problem.trouble for problem in report.problems) if kind]
            self._show()

    def missed(self) -> None:
        """A submission that could not be graded (the machines' fault, not the student's)."""
        with self._lock:
            self.done += 1
            self._show()

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self._start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """The progress in one plain line."""
        rate = self.rate
        left = f"~{(self.total - self.done) / rate:.0f} s left" if rate > 0 else "time left unknown"
        return (f"graded {self.done}/{self.total} ({self.cached} unchanged), {rate:.1f}/s, {left}, "
                f"problems: {describe_troubles(self.troubles)}")

    def _show(self) -> None:
        if not self.enabled:
            return
        if self._live is not None and self._task is not None:
            self._live.update(self._task, completed=self.done, rate=self.rate, troubles=describe_troubles(self.troubles),
                              cached=self.cached)
            return
        now = time.monotonic()
        step = max(1, math.ceil(self.total / 10))
        since, at = self._last_line
        if self.done == self.total or self.done // step > at // step or now - since >= self.interval:
            self._print_line()

    def _print_line(self) -> None:
        self._last_line = (time.monotonic(), self.done)
        self.console.print(Text(self.line()), soft_wrap=True)
