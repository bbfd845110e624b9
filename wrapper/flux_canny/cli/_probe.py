"""`probe`: does the live server still enforce what openapi.json says? At zero cost."""

from __future__ import annotations

from typing import Any

import click

from ..errors import clean
from ._exit import EXIT_ERROR
from ._options import api_options, make_client, settings_from

__all__ = ["probe"]


@click.command(
    epilog="""\b
Examples:
  flux-canny probe
  flux-canny probe --json | jq '.findings[] | select(.agrees | not)'
\b
Exit status: 0 when the server agrees on every constraint, 1 when any differs
(one line each), 3 when the API refused the probe itself (key, rate limit)."""
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as one JSON object.")
@api_options
def probe(as_json: bool, **values: Any) -> None:
    """Check every constraint of the request schema against the live server, for free.

    Every probe body carries two guaranteed errors (a required field missing, another of
    the wrong type), checked locally before it is sent, so the server answers 422 and no
    task is ever created; its list of errors says which constraints it still enforces.
    """
    with make_client(settings_from(values)) as flux:
        report = flux.probe()
    if as_json:
        click.echo(report.to_json())
    else:
        click.echo(clean(report.summary()))
    if report.task_created is not None:
        click.echo(f"flux-canny: {clean(report.summary())}", err=True)
    if not report.agrees:
        raise SystemExit(EXIT_ERROR)
