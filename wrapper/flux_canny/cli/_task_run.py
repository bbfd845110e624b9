"""One task's life in `generate` and `result`: its ledger rows, its progress, the file
it ends in, and what Ctrl-C says."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import attrs
import click

from ..errors import ImageInputError, LedgerError
from ..images import GeneratedImage, inspect_image
from ..ledger import Ledger
from ..models import Result, Task
from ._exit import EXIT_INTERRUPTED, remember_resume, resume_command
from ._options import (
    ApiSettings,
)
from ._outputs import (
    extension_for,
    implied_format,
    safe_name,
    save_paid,
)
from ._progress import TaskProgress, stderr_console

__all__ = ["TaskRun"]


class TaskRun:
    """One task's life in the CLI: ledger rows, timings, progress and the file."""

    def __init__(
        self,
        settings: ApiSettings,
        ledger: Ledger,
        *,
        output: Path | None,
        force: bool,
        quiet: bool,
        task: Task | None = None,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.output = output
        self.force = force
        self.console = stderr_console()
        self.progress = TaskProgress(self.console, quiet=quiet)
        self.task = task
        self.started = time.monotonic()
        self.submitted_at: float | None = None
        self.ready_at: float | None = None

    def on_submit(self, task: Task) -> None:
        self.task = task
        self.submitted_at = time.monotonic()
        if self.output is not None:
            with contextlib.suppress(LedgerError):  # the id is on stderr as well
                self.ledger.task_state(task.id, None, output=str(self.output.absolute()))
        self.progress.submitted(task)

    def on_update(self, result: Result) -> None:
        if result.is_ready and self.ready_at is None:
            self.ready_at = time.monotonic()
        self.progress.update(result)

    def resume_hint(self) -> str:
        assert self.task is not None
        out = str(self.output) if self.output is not None else None
        return resume_command(
            self.task.id, self.task.polling_url, output=out, base_url=self.settings.base_url
        )

    def failed(self, error: BaseException) -> None:
        """On Ctrl-C say how to resume (or that the submit is uncertain) and exit 130."""
        if not isinstance(error, KeyboardInterrupt):
            if self.task is not None:
                remember_resume(error, self.resume_hint())
            return
        self.progress.stop()  # the message gets a line of its own, after the final bar
        if self.task is None:
            click.echo(
                "flux-canny: interrupted before the submit was answered; a task may have been "
                "created. It is recorded as uncertain (`flux-canny tasks --status uncertain`): "
                "check your recent tasks before submitting again",
                err=True,
            )
        else:
            click.echo(
                f"flux-canny: interrupted; task {self.task.id} is still running. "
                f"Resume with: {self.resume_hint()}",
                err=True,
            )
        raise SystemExit(EXIT_INTERRUPTED)

    # -- the file ---------------------------------------------------------------------------------

    def save(self, image: GeneratedImage) -> Path:
        assert self.task is not None
        image = self._as_named(image)
        default = Path(f"flux-{safe_name(self.task.id)}{extension_for(image.format)}")
        target = self.output or default
        return save_paid(image, target, self.ledger, overwrite=self.force)

    def _as_named(self, image: GeneratedImage) -> GeneratedImage:
        """An image whose format contradicts -o's extension (`result ID -o x.png` for a
        JPEG task) is converted, and the user told: never JPEG bytes in a .png file."""
        wanted = implied_format(self.output) if self.output is not None else None
        if wanted is None or wanted == image.format:
            return image
        import io

        from PIL import Image

        with Image.open(io.BytesIO(image.data)) as opened:
            buffer = io.BytesIO()
            picture = opened.convert("RGB") if wanted == "jpeg" else opened
            picture.save(buffer, format=wanted.upper())
        assert self.output is not None
        self.progress.note(f"converted the {image.format} image to {wanted} for {self.output.name}")
        return attrs.evolve(image, data=buffer.getvalue(), format=wanted)

    def report(self, image: GeneratedImage, path: Path, *, as_json: bool) -> None:
        assert self.task is not None
        finished = time.monotonic()
        width: int | None = None
        height: int | None = None
        with contextlib.suppress(ImageInputError):
            info = inspect_image(image.data)
            width, height = info.width, info.height
        if as_json:
            submitted = self.submitted_at
            ready = self.ready_at or finished
            timings = {
                "submit_s": round(submitted - self.started, 3) if submitted else None,
                "wait_s": round(ready - (submitted or self.started), 3),
                "download_s": round(finished - ready, 3),
                "total_s": round(finished - self.started, 3),
            }
            document = {
                "task_id": self.task.id,
                "polling_url": self.task.polling_url,
                "seed": image.seed,
                "path": str(path),
                "format": image.format,
                "width": width,
                "height": height,
                "bytes": len(image.data),
                "polls": self.progress.polls,
                "timings": timings,
            }
            click.echo(json.dumps(document))
            return
        size = f"{width}x{height} " if width else ""
        self.progress.note(
            f"{size}{image.format}, seed {image.seed}, {_count(self.progress.polls, 'poll')}, "
            f"{finished - self.started:.1f}s"
        )
        click.echo(str(path))


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
