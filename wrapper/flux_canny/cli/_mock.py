"""`mock-server`: the fake BFL API on loopback, for trying every command without a key.

It serves every image-making operation of the packaged spec; `--duration` gives one of
them its own task duration ("flux-2-klein-4b=0.5"), as the live service's models differ.
"""

from __future__ import annotations

import contextlib
import threading

import click

from .._operations import operation, operations
from ..errors import InvalidArgumentError
from ..fake import FakeBFL, FakeServer
from ._exit import BadInput
from ._options import bind, port_option

__all__ = ["mock_server"]

#: the key the fake accepts when none is named
_DEFAULT_KEY = FakeBFL.api_key
_DEFAULT_FINETUNE = "my-finetune"


def _durations(pairs: tuple[str, ...]) -> dict[str, float]:
    """NAME=SECONDS pairs as a mapping; a name that is no endpoint is bad input."""
    found: dict[str, float] = {}
    for pair in pairs:
        name, equals, seconds = pair.rpartition("=")
        try:
            value = float(seconds) if equals else -1.0
        except ValueError:
            value = -1.0
        if not equals or not name or not value >= 0:
            raise BadInput(f"--duration wants NAME=SECONDS (e.g. flux-2-pro=5), not {pair!r:.80}")
        try:
            found[operation(name).name] = value
        except InvalidArgumentError as error:
            raise BadInput(f"--duration: {error}") from None
    return found


@click.command(
    "mock-server",
    epilog="""\b
Examples:
  flux-canny mock-server --port 8080 --task-duration 5
  flux-canny mock-server --no-progress --key my-test-key""",
)
@port_option
@click.option(
    "--key",
    "keys",
    multiple=True,
    help=f"An API key the fake accepts (repeatable) [default: {_DEFAULT_KEY}].",
)
@click.option(
    "--task-duration",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds each task takes (every endpoint without its own --duration).",
)
@click.option(
    "--duration",
    "durations",
    multiple=True,
    metavar="NAME=SECONDS",
    help="Seconds the tasks of one endpoint take, e.g. flux-2-pro=8 (repeatable).",
)
@click.option(
    "--credits",
    type=click.FloatRange(min=0),
    default=None,
    help="Credits each key has; a task costs 5, a submit beyond them is 402 [default: unlimited].",
)
@click.option(
    "--finetune",
    "finetunes",
    multiple=True,
    metavar="ID",
    help=f"A finetune id the finetuned endpoints know (repeatable) [default: {_DEFAULT_FINETUNE}].",
)
@click.option("--no-progress", is_flag=True, help="Report no progress while tasks run.")
@click.option(
    "--max-active-tasks",
    type=click.IntRange(min=1),
    default=24,
    show_default=True,
    help="Active tasks per key before 429.",
)
def mock_server(
    port: int,
    keys: tuple[str, ...],
    task_duration: float,
    durations: tuple[str, ...],
    credits: float | None,
    finetunes: tuple[str, ...],
    no_progress: bool,
    max_active_tasks: int,
) -> None:
    """Run the fake BFL API on 127.0.0.1 and print its base URL, until Ctrl-C.

    It serves every endpoint of BFL's API (flux-2-pro, flux-kontext-max, ... and the canny
    finetune). Point the other commands at it with BFL_BASE_URL and one of its keys in
    BFL_API_KEY.
    """
    accepted = list(keys) or [_DEFAULT_KEY]
    fake = FakeBFL(
        api_keys=accepted,
        task_duration=task_duration,
        durations=_durations(durations),
        credits=credits,
        finetunes=list(finetunes) or [_DEFAULT_FINETUNE],
        report_progress=not no_progress,
        max_active_tasks=max_active_tasks,
    )
    server = bind(lambda: FakeServer(fake, port=port), port)
    with server:
        click.echo(server.base_url)
        default = "" if keys else " (the default; choose with --key)"
        click.echo(
            f"accepting x-key {', '.join(accepted)}{default}; try: "
            f"BFL_BASE_URL={server.base_url} BFL_API_KEY={accepted[0]} flux-canny finetunes",
            err=True,
        )
        own = ", ".join(f"{name} {seconds:g} s" for name, seconds in fake.durations.items())
        click.echo(
            f"serving {len(operations())} endpoints, tasks of {task_duration:g} s"
            + (f" ({own})" if own else "")
            + f"; finetunes {', '.join(fake.finetunes)}; credits "
            + ("unlimited" if credits is None else f"{credits:g}"),
            err=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
