"""What the user sees while waiting: a live bar on a terminal, plain lines otherwise.

Everything goes to stderr, so stdout stays clean for the path or the `--json` object.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from ..errors import clean
from ..models import Result, Task

__all__ = ["BatchProgress", "TaskProgress", "stderr_console", "table_console"]


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def table_console() -> Console:
    """stdout, for tables. Piped, a row is as long as its content: rich would otherwise
    assume 80 columns and fold every path a few characters at a time for a width nobody
    reads at. On a terminal, the terminal's width."""
    console = Console(highlight=False, soft_wrap=True)
    if console.is_terminal:
        return console
    return Console(highlight=False, soft_wrap=True, width=10_000)


def _bar_column() -> BarColumn:
    """A bar in named colours: rich's own are true colours, which a 256- or 16-colour
    terminal (TERM=xterm) rounds to its grey, so a finished bar looked empty."""
    return BarColumn(style="bright_black", complete_style="magenta", finished_style="green")


class _LiveBar:
    """A rich bar on a terminal (started and stopped with the `with` block); nothing
    live otherwise, where the subclasses print plain lines instead."""

    def __init__(self, console: Console, bar: Progress, *, quiet: bool) -> None:
        self.console = console
        self.quiet = quiet
        self._live = console.is_terminal and not quiet
        self._bar = bar
        self._row: TaskID | None = None

    def _first_row(self) -> TaskID:
        raise NotImplementedError

    def __enter__(self) -> Self:
        if self._live:
            self._bar.start()
            self._row = self._first_row()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """End the live bar now (idempotent): whatever is printed next starts on a line of
        its own, and no stale bar is redrawn after it."""
        if self._live:
            self._bar.stop()
            self._live = False


class TaskProgress(_LiveBar):
    """One task: status, progress and elapsed time, updated at every poll."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.polls = 0
        self.started = time.monotonic()
        bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<10}"),
            _bar_column(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("poll {task.fields[polls]}"),
            console=console,
            transient=False,
        )
        super().__init__(console, bar, quiet=quiet)
        self._last: tuple[str, int] | None = None

    def _first_row(self) -> TaskID:
        return self._bar.add_task("Submitting", total=None, polls=0)

    def submitted(self, task: Task) -> None:
        self.note(f"submitted task {task.id}")  # note() cleans what the server sent

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(clean(text), markup=False)

    def update(self, result: Result) -> None:
        self.polls += 1
        fraction = 1.0 if result.is_ready else result.progress
        if self._live and self._row is not None:
            total = None if fraction is None else 100.0
            done = None if fraction is None else fraction * 100.0
            self._bar.update(
                self._row,
                description=clean(result.status),
                total=total,
                completed=done,
                polls=self.polls,
            )
            return
        # plain output: a line when the status changes or progress passes a quarter
        quarter = -1 if fraction is None else int(fraction * 4)
        if self.quiet or self._last == (result.status, quarter):
            return
        self._last = (result.status, quarter)
        shown = "" if fraction is None else f" {fraction:4.0%}"
        elapsed = time.monotonic() - self.started
        self.note(f"  {result.status}{shown}  {elapsed:5.1f}s  poll {self.polls}")


class BatchProgress(_LiveBar):
    """One bar for a whole batch: finished of total, with failures counted."""

    def __init__(self, console: Console, total: int, *, quiet: bool = False) -> None:
        self.total = total
        self.done = self.failed = self.active = 0
        bar = Progress(
            SpinnerColumn(),
            TextColumn("batch"),
            _bar_column(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        )
        super().__init__(console, bar, quiet=quiet)

    def _first_row(self) -> TaskID:
        return self._bar.add_task("batch", total=self.total, detail="")

    def _refresh(self) -> None:
        if self._live and self._row is not None:
            detail = f"{self.active} active, {self.failed} failed"
            self._bar.update(
                self._row, total=self.total, completed=self.done + self.failed, detail=detail
            )

    def started(self) -> None:
        self.active += 1
        self._refresh()

    def finished(
        self,
        name: str,
        error: str | None,
        *,
        was_active: bool = True,
        status: str | None = None,
    ) -> None:
        """A job ended: `status` is the summary table's word for it, `error` (None for a
        job that needs nothing more) why it did not."""
        if was_active:
            self.active = max(0, self.active - 1)
        if error is None:
            self.done += 1
        else:
            self.failed += 1
        self._refresh()
        if not self._live and not self.quiet:
            word = status or ("ok" if error is None else "failed")
            state = word if error is None or error == word else f"{word}: {error}"
            count = self.done + self.failed
            self.console.print(f"  [{count}/{self.total}] {name}: {state}", markup=False)
