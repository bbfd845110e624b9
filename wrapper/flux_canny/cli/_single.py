"""`generate` and `result`: one task from submit to file."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import click

from ..errors import FluxCannyError, ImageInputError, LedgerError, clean
from ..images import GeneratedImage, inspect_image
from ..ledger import Ledger, State
from ..models import Result, Task
from ._exit import EXIT_INTERRUPTED, BadInput, remember_resume, resume_command
from ._options import (
    ApiSettings,
    api_options,
    collect_params,
    make_client,
    request_options,
    settings_from,
)
from ._outputs import (
    check_writable,
    default_outputs,
    extension_for,
    finish_kept,
    implied_format,
    infer_format,
    open_ledger,
    safe_name,
    save_paid,
)
from ._progress import TaskProgress, stderr_console

__all__ = ["generate", "result"]

_DEFAULT_WAIT = 600.0


class _TaskRun:
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
        try:
            return save_paid(image, target, self.ledger, overwrite=self.force)
        except FileExistsError:
            raise BadInput(
                f"{target} exists; pass --force to overwrite it, or -o another path "
                f"(`flux-canny result {self.task.id} -o OTHER` fetches the image again)"
            ) from None

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


def _control_image(control: str) -> Any:
    if control == "-":
        data = sys.stdin.buffer.read()
        if not data:
            raise ImageInputError("no control image on standard input")
        return data
    return Path(control)


_OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the image [default: ./flux-TASK_ID.EXT]. Its extension sets "
    "--output-format when that is not given.",
)
_FORCE = click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
_JSON = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object on stdout instead of the path."
)
_TIMEOUT = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=_DEFAULT_WAIT,
    show_default=True,
    help="Seconds to wait for the task before giving up (it can be resumed).",
)
_QUIET = click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")


@click.command(
    epilog="""\b
Examples:
  flux-canny generate edges.png --prompt "a castle at dusk" \\
      --finetune-id my-finetune --steps 30 -o castle.jpg
  flux-canny generate sketch.png --prompt "..." --finetune-id ID --no-wait --json
  cat edges.png | flux-canny generate - --prompt "..." --finetune-id ID -o out.png"""
)
@click.argument("control")
@request_options
@_OUTPUT
@_FORCE
@_JSON
@click.option(
    "--no-wait", is_flag=True, help="Submit, print the task id and polling URL, and exit."
)
@_TIMEOUT
@_QUIET
@api_options
def generate(
    control: str,
    output: Path | None,
    force: bool,
    as_json: bool,
    no_wait: bool,
    timeout: float,
    quiet: bool,
    **values: Any,
) -> None:
    """Generate an image from CONTROL (a PNG, JPEG or WebP file, or - for stdin).

    Validates every parameter against the API's spec before sending anything, submits,
    shows progress while the task runs, downloads the image and writes it atomically.
    Every submitted task is recorded (see `flux-canny tasks`), and Ctrl-C prints the
    command that resumes it.
    """
    settings = settings_from(values)
    params = infer_format(output, collect_params(values))
    if output is not None:
        check_writable(output, force=force)
    image_input = _control_image(control)
    ledger = open_ledger()
    run = _TaskRun(settings, ledger, output=output, force=force, quiet=quiet or no_wait)
    with ledger, make_client(settings, wait_timeout=timeout, ledger=ledger) as flux:
        if no_wait:
            try:
                task = flux.submit(control_image=image_input, **params)
            except KeyboardInterrupt as error:
                run.failed(error)
                raise
            run.on_submit(task)
            _print_task(task, settings, output, as_json=as_json)
            return
        with run.progress:
            try:
                image = flux.generate(
                    control_image=image_input,
                    timeout=timeout,
                    on_submit=run.on_submit,
                    on_update=run.on_update,
                    **params,
                )
            except (FluxCannyError, KeyboardInterrupt) as error:
                run.failed(error)
                raise
        path = run.save(image)
    run.report(image, path, as_json=as_json)


def _print_task(task: Task, settings: ApiSettings, output: Path | None, *, as_json: bool) -> None:
    hint = resume_command(
        task.id,
        task.polling_url,
        output=str(output) if output else None,
        base_url=settings.base_url,
    )
    if as_json:
        click.echo(
            json.dumps({"task_id": task.id, "polling_url": task.polling_url, "resume": hint})
        )
    else:
        click.echo(clean(task.id))
        click.echo(clean(f"polling URL: {task.polling_url}"), err=True)
        click.echo(clean(f"resume with: {hint}"), err=True)


@click.command(
    epilog="""\b
Examples:
  flux-canny result 3f1c2a9e-... -o castle.jpg
  flux-canny result 3f1c2a9e-... --polling-url https://api.us1.bfl.ai/v1/get_result?id=...
  flux-canny result 3f1c2a9e-... --json"""
)
@click.argument("task_id")
@click.option(
    "--polling-url",
    default=None,
    help="The task's polling URL [default: the one recorded at submit, if any].",
)
@_OUTPUT
@_FORCE
@_JSON
@_TIMEOUT
@_QUIET
@api_options
def result(
    task_id: str,
    polling_url: str | None,
    output: Path | None,
    force: bool,
    as_json: bool,
    timeout: float,
    quiet: bool,
    **values: Any,
) -> None:
    """Wait for an already-submitted task and download its image.

    The polling URL and the output path recorded when the task was submitted are used
    unless given here. Safe to run again after Ctrl-C or a timeout: it never submits.
    """
    settings = settings_from(values)
    ledger = open_ledger()
    known = ledger.find(task_id)
    if known is not None:
        polling_url = polling_url or known.polling_url
        if output is None and known.output and known.state != State.DOWNLOADED:
            output = Path(known.output)
        recorded = (known.base_url or "").rstrip("/")
        if recorded and recorded != settings.base_url.rstrip("/"):
            # the key goes only where the user points it, never where a record says
            raise BadInput(
                f"task {task_id} was submitted to {recorded}, not {settings.base_url}; "
                f"pass --base-url {recorded} (or set BFL_BASE_URL) to resume it there"
            )
    done = known is not None and known.state == State.DOWNLOADED and known.output
    if output is None and done and known is not None and Path(str(known.output)).exists():
        click.echo(known.output)  # nothing to wait for, nothing to fetch
        click.echo(f"task {task_id} was already downloaded to {known.output}", err=True)
        return
    if output is not None:
        check_writable(output, force=force)
    else:  # the default name: settled before any wait or download, as -o is
        taken = [p for p in default_outputs(task_id) if p.exists()]
        if taken and not force:
            raise BadInput(f"{taken[0]} exists; pass --force to overwrite it, or -o another path")
    if known is not None and known.state == State.KEPT and known.kept_at:
        target = output or Path(known.output or f"flux-{safe_name(task_id)}.img")
        path = finish_kept(known, target, ledger, overwrite=force)
        click.echo(str(path))
        return
    task = Task(id=task_id, polling_url=polling_url)
    run = _TaskRun(settings, ledger, output=output, force=force, quiet=quiet, task=task)
    run.progress.note(f"waiting for task {task_id}")
    with ledger, make_client(settings, wait_timeout=timeout, ledger=ledger) as flux, run.progress:
        try:
            image = flux.resume(task, timeout=timeout, on_update=run.on_update)
        except (FluxCannyError, KeyboardInterrupt) as error:
            run.failed(error)
            raise
        path = run.save(image)
    run.report(image, path, as_json=as_json)
