"""`mock-server`: the fake BFL API on loopback, for trying every command without a key."""

from __future__ import annotations

import contextlib
import threading

import click

from ..fake import FakeBFL, FakeServer
from ._options import bind, port_option

__all__ = ["mock_server"]


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
    help="An API key the fake accepts (repeatable) [default: test-key].",
)
@click.option(
    "--task-duration",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds each task takes.",
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
    no_progress: bool,
    max_active_tasks: int,
) -> None:
    """Run the fake BFL API on 127.0.0.1 and print its base URL, until Ctrl-C.

    Point the other commands at it with BFL_BASE_URL and one of its keys in BFL_API_KEY.
    """
    accepted = list(keys) or ["test-key"]
    fake = FakeBFL(
        api_keys=accepted,
        task_duration=task_duration,
        report_progress=not no_progress,
        max_active_tasks=max_active_tasks,
    )
    server = bind(lambda: FakeServer(fake, port=port), port)
    with server:
        click.echo(server.base_url)
        click.echo(
            f"accepting x-key {', '.join(accepted)}; try: BFL_BASE_URL={server.base_url} "
            f"BFL_API_KEY={accepted[0]} flux-canny finetunes",
            err=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
