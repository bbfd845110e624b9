"""`generate` and `result`: one task from submit to file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import attrs
import click

from .._operations import Operation, operation, operations, origin
from ..errors import FluxCannyError, ImageInputError, clean
from ..ledger import State
from ..models import Task, task_of
from ._endpoint_command import ENDPOINT_OPTION, EndpointCommand
from ._exit import BadInput, resume_command
from ._options import (
    IMAGE_FIELD,
    ApiSettings,
    api_options,
    collect_params,
    make_client,
    settings_from,
)
from ._outputs import (
    check_writable,
    default_outputs,
    finish_kept,
    infer_format,
    open_ledger,
    safe_name,
)
from ._task_run import TaskRun

__all__ = ["generate", "result"]

_DEFAULT_WAIT = 600.0


def _image_input(field: str, given: str) -> Any:
    """An image flag's value as the library takes it: stdin's bytes for -, an address as
    given (the library refuses it where the spec takes none), else a file path."""
    if given == "-":
        data = sys.stdin.buffer.read()
        if not data:
            raise ImageInputError(f"no {field} image on standard input")
        return data
    if given.startswith(("https://", "http://")):
        return given
    return Path(given)


def _with_images(op: Operation, params: dict[str, Any], control: str | None) -> dict[str, Any]:
    """The request's fields with each image flag read (the canny one from CONTROL)."""
    given = {**params, **({IMAGE_FIELD: control} if control is not None else {})}
    from_stdin = [f for f in op.image_fields if given.get(f) == "-"]
    if len(from_stdin) > 1:
        raise BadInput(f"only one image can come from standard input, not {', '.join(from_stdin)}")
    return {
        name: _image_input(name, value) if name in op.image_fields else value
        for name, value in given.items()
    }


_OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the image [default: ./flux-TASK_ID.EXT]. Its extension sets "
    "--output-format when that is not given. Missing folders are created, before "
    "anything is sent.",
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
    cls=EndpointCommand,
    canny_argument=click.Argument(["control"]),
    epilog="""\b
Examples:
  flux-canny generate edges.png --prompt "a castle at dusk" \\
      --finetune-id my-finetune --steps 30 -o castle.jpg
  flux-canny generate sketch.png --prompt "..." --finetune-id ID --no-wait --json
  cat edges.png | flux-canny generate - --prompt "..." --finetune-id ID -o out.png
  flux-canny generate --endpoint flux-2-pro --prompt "this castle, drawn as these lines" \\
      --input-image castle.jpg --input-image-2 edges.png -o drawn.png
  flux-canny generate --endpoint flux-pro-1.0-fill --image castle.jpg --mask edges.png \\
      --prompt "ivy on every wall" -o ivy.jpg
  flux-canny generate --endpoint flux-2-pro --help""",
)
@ENDPOINT_OPTION
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
    endpoint: str,
    output: Path | None,
    force: bool,
    as_json: bool,
    no_wait: bool,
    timeout: float,
    quiet: bool,
    **values: Any,
) -> None:
    """Generate an image: with the canny finetune (the default endpoint) from CONTROL (a
    PNG, JPEG or WebP file, or - for stdin), with another from its --endpoint's flags.

    Validates every parameter against the API's spec before sending anything, submits,
    shows progress while the task runs, downloads the image and writes it atomically.
    Every submitted task is recorded (see `flux-canny tasks`), and Ctrl-C prints the
    command that resumes it.
    """
    control = values.pop("control", None)
    op = operation(endpoint)
    settings = settings_from(values)
    params = infer_format(output, collect_params(values, endpoint), endpoint)
    if output is not None:
        check_writable(output, force=force)
    fields = _with_images(op, params, control)
    ledger = open_ledger()
    run = TaskRun(settings, ledger, output=output, force=force, quiet=quiet or no_wait)
    with ledger, make_client(settings, wait_timeout=timeout, ledger=ledger) as client:
        # the endpoint is a name read at run time: the per-endpoint overloads are for code
        flux: Any = client
        if no_wait:
            try:
                task = flux.submit(endpoint=endpoint, **fields)
            except KeyboardInterrupt as error:
                run.failed(error)
                raise
            run.on_submit(task)
            _print_task(task, settings, output, as_json=as_json)
            return
        with run.progress:
            try:
                image = flux.generate(
                    endpoint=endpoint,
                    timeout=timeout,
                    on_submit=run.on_submit,
                    on_update=run.on_update,
                    **fields,
                )
            except (FluxCannyError, KeyboardInterrupt) as error:
                run.failed(error)
                raise
        path = run.save(image)
    run.report(image, path, as_json=as_json)


def _spec_servers() -> set[str]:
    """The servers the spec names for its endpoints: where an unconfigured client sends
    each one, so where a task of any endpoint can be fetched again with the same key."""
    return {origin(op) for op in operations().values()}


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
    task = task_of(task_id)  # an empty id, or one with spaces: refused, nothing sent
    settings = settings_from(values)
    ledger = open_ledger()
    known = ledger.find(task_id)
    if known is not None:
        polling_url = polling_url or known.polling_url
        if output is None and known.output and known.state != State.DOWNLOADED:
            output = Path(known.output)
        recorded = (known.base_url or "").rstrip("/")
        if recorded and not settings.configured and recorded in _spec_servers():
            settings = settings.at(recorded)  # a BFL server its endpoint's spec entry names
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
    task = attrs.evolve(task, polling_url=polling_url)
    run = TaskRun(settings, ledger, output=output, force=force, quiet=quiet, task=task)
    run.progress.note(f"waiting for task {task_id}")
    with ledger, make_client(settings, wait_timeout=timeout, ledger=ledger) as flux, run.progress:
        try:
            image = flux.resume(task, timeout=timeout, on_update=run.on_update)
        except (FluxCannyError, KeyboardInterrupt) as error:
            run.failed(error)
            raise
        path = run.save(image)
    run.report(image, path, as_json=as_json)
