"""`tasks`: what the ledger knows, filtered, as a table or JSON lines; and pruning it."""

from __future__ import annotations

import json
import time

import attrs
import click
from rich.table import Table

from .._operations import CANNY
from ..errors import clean
from ..ledger import State
from ._outputs import open_ledger
from ._progress import table_console

__all__ = ["tasks"]


@click.command(
    epilog="""\b
Examples:
  flux-canny tasks
  flux-canny tasks --status uncertain
  flux-canny tasks --limit 100 --json | jq 'select(.state != "downloaded")'
  flux-canny tasks --prune 30"""
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many of the newest tasks to show.",
)
@click.option(
    "--status",
    "states",
    multiple=True,
    type=click.Choice([str(s) for s in State]),
    help="Only tasks in this state (repeatable); `uncertain` lists submits that may have "
    "created a task whose id never arrived.",
)
@click.option(
    "--prune",
    type=click.FloatRange(min=0),
    default=None,
    metavar="DAYS",
    help="Forget finished tasks older than DAYS (unfinished ones are always kept).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per task.")
def tasks(limit: int, states: tuple[str, ...], prune: float | None, as_json: bool) -> None:
    """List submitted tasks, their endpoints and how they ended (newest first), from the
    task ledger.

    Tasks still `submitted` or `ready` may be waiting for you: fetch them with
    `flux-canny result TASK_ID`. `uncertain` submits may have created a task: check your
    BFL dashboard before paying for them again.
    """
    ledger = open_ledger()
    with ledger:
        if prune is not None:
            gone = ledger.prune(prune * 86400)
            click.echo(f"forgot {gone} finished task(s) older than {prune:g} day(s)", err=True)
            return
        ledger.reap()
        entries = ledger.entries(limit, states=states or None)
    if as_json:
        for entry in entries:
            record = attrs.asdict(entry)
            record.pop("owner", None)
            record["endpoint"] = entry.operation or CANNY  # earlier versions': the seed's
            click.echo(json.dumps(record))
        return
    if not entries:
        said = f"no task is {' or '.join(states)}" if states else "no tasks recorded yet"
        click.echo(f"{said} ({ledger.where})", err=True)
        return
    table = Table(title=None, box=None, pad_edge=False)
    for column in ("submitted", "task id", "endpoint", "state", "prompt", "output / note"):
        if column == "prompt":
            table.add_column(column, no_wrap=True, max_width=24, overflow="ellipsis")
        elif column == "output / note":
            table.add_column(column, overflow="fold", min_width=30)
        else:
            table.add_column(column, no_wrap=True)
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created_at))
        prompt = (entry.prompt or "")[:40]
        note = entry.kept_at or entry.output or entry.error or ""
        if entry.state == State.UNCERTAIN:
            note = f"may exist: {entry.error or 'the answer never arrived'}"
        endpoint = clean(entry.operation or CANNY)
        table.add_row(when, clean(entry.task_id or "?"), endpoint, entry.state, prompt, clean(note))
    table_console().print(table)
