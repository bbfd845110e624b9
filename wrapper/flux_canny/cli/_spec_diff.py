"""`spec-diff`: what changed between two OpenAPI documents, and what breaks."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from ..specdiff import SpecDiff, diff_specs, load_document
from ._exit import EXIT_ERROR, BadInput
from ._progress import table_console

__all__ = ["print_diff", "spec_diff"]

_SHOWN_OPERATIONS = 3


def print_diff(diff: SpecDiff, console: Console) -> None:
    """The human table: breaking changes first, each with the operations it reaches."""
    if not diff.changes:
        console.print("no changes", markup=False)
        return
    table = Table(box=None, pad_edge=False, show_lines=True)
    for column, ratio in (("", None), ("change", 3), ("where", 2), ("operations", 2)):
        table.add_column(column, overflow="fold", ratio=ratio)
    for change in diff.changes:
        ops = list(change.operations[:_SHOWN_OPERATIONS])
        if len(change.operations) > _SHOWN_OPERATIONS:
            ops.append(f"+{len(change.operations) - _SHOWN_OPERATIONS} more")
        where = change.where + (f"\n[{change.schema}]" if change.schema else "")
        mark = "BREAKING" if change.breaking else "ok"
        table.add_row(mark, f"{change.kind}: {change.detail}", where, "\n".join(ops))
    console.print(table)
    breaking = len(diff.breaking)
    console.print(
        f"{len(diff.changes)} change(s), {breaking} breaking for a client of the old document",
        markup=False,
    )


@click.command(
    "spec-diff",
    epilog="""\b
Examples:
  flux-canny spec-diff openapi.json new-openapi.json
  flux-canny spec-diff old.json new.json --json | jq '.changes[] | select(.breaking)'
  flux-canny spec-diff openapi.json https://api.bfl.ai/openapi.json
\b
Exit status: 0 when nothing breaks, 1 when a change breaks a client of OLD,
2 when a file cannot be read.""",
)
@click.argument("old")
@click.argument("new")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as one JSON object.")
def spec_diff(old: str, new: str, as_json: bool) -> None:
    """List every change from OLD to NEW (two OpenAPI documents, files or https:// URLs)
    and whether it breaks.

    $refs are resolved: a change inside a shared schema is listed once, with every
    operation it reaches. Defaults and descriptions are reported too (defaults change
    results).
    """
    documents = []
    for path in (old, new):
        try:
            documents.append(load_document(path))
        except (OSError, ValueError) as error:
            raise BadInput(f"cannot read {path}: {error}") from None
    diff = diff_specs(documents[0], documents[1])
    if as_json:
        click.echo(diff.to_json())
    else:
        print_diff(diff, table_console())
    if diff.has_breaking:
        raise SystemExit(EXIT_ERROR)
