"""`endpoints`: every image-making endpoint of `openapi.json`, as the spec describes it."""

from __future__ import annotations

import json
import re

import click
from rich.markup import escape
from rich.table import Table

from .._operations import Operation, operations
from ._progress import table_console

__all__ = ["endpoints"]

#: the server of an operation the spec names none for: the document's own
_DEFAULT_SERVER = "https://api.bfl.ai"


def _record(each: Operation) -> dict[str, object]:
    return {
        "name": each.name,
        "path": each.path,
        "image_inputs": list(each.image_fields),
        "url_inputs": sorted(each.url_fields),
        "finetuned": each.finetuned,
        "server": each.server or _DEFAULT_SERVER,
        "description": _described(each),
        "published_by_bfl": not each.seed,
    }


def _described(each: Operation) -> str:
    said = each.summary.splitlines()[0] if each.summary else ""
    if each.seed:
        return f"{said} (the seed's endpoint: BFL no longer publishes it)".strip()
    return said


@click.command(
    epilog="""\b
Examples:
  flux-canny endpoints
  flux-canny endpoints --json"""
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per endpoint.")
def endpoints(as_json: bool) -> None:
    """List every endpoint of the spec: its image inputs, whether it takes a finetune,
    its server, and what it does."""
    found = list(operations().values())
    if as_json:
        for each in found:
            click.echo(json.dumps(_record(each)))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("endpoint", "image inputs", "finetune", "server"):
        table.add_column(column, no_wrap=True)
    table.add_column("description", overflow="fold", min_width=20)
    for each in found:
        table.add_row(
            each.name,
            _images(each),
            "yes" if each.finetuned else "no",
            (each.server or _DEFAULT_SERVER).removeprefix("https://"),
            escape(_described(each)),  # "[pro]" is BFL's word, not rich's markup
        )
    table_console().print(table)


def _images(each: Operation) -> str:
    """input_image … input_image_8, not eight names."""
    fields = list(each.image_fields)
    numbered = len(fields) > 2 and all(re.fullmatch(r"input_image(_\d+)?", f) for f in fields)
    said = f"{fields[0]} … {fields[-1]}" if numbered else ", ".join(fields)
    return (said + (" (or URLs)" if each.url_fields else "")) or "-"
