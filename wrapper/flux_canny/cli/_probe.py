"""`probe`: does the live server still enforce what openapi.json says? At zero cost."""

from __future__ import annotations

import json
from typing import Any

import click

from .._operations import CANNY, operation, operations
from ..errors import clean
from ..probe import ProbeReport
from ._exit import EXIT_ERROR, BadInput
from ._options import api_options, make_client, settings_from

__all__ = ["probe"]


@click.command(
    epilog="""\b
Examples:
  flux-canny probe
  flux-canny probe --endpoint flux-2-pro
  flux-canny probe --all
  flux-canny probe --json | jq '.findings[] | select(.agrees | not)'
\b
Exit status: 0 when the server agrees on every constraint, 1 when any differs
(one line each), 3 when the API refused the probe itself (key, rate limit)."""
)
@click.option(
    "--endpoint",
    default=CANNY,
    metavar="NAME",
    help=f"The endpoint whose request schema is probed [default: {CANNY}].",
)
@click.option(
    "--all", "every", is_flag=True, help="Probe every endpoint of the spec, one after another."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the whole report as one JSON object (with --all: one per endpoint, a line "
    "each, with its endpoint).",
)
@api_options
def probe(endpoint: str, every: bool, as_json: bool, **values: Any) -> None:
    """Check every constraint of an endpoint's request schema against the live server,
    for free.

    Every probe body carries two guaranteed errors (a required field missing, another
    of the wrong type), checked locally before it is sent, so the server answers 422 and
    no task is ever created; its list of errors says which constraints it still enforces.
    """
    if every and endpoint != CANNY:
        raise BadInput("pass --endpoint NAME or --all, not both")
    names = list(operations()) if every else [operation(endpoint).name]
    agrees = True
    with make_client(settings_from(values)) as flux:
        for name in names:
            report = flux.probe(name)
            _show(name, report, as_json=as_json, every=every)
            agrees = agrees and report.agrees
            if report.task_created is not None:
                click.echo(f"flux-canny: {name}: {clean(report.summary())}", err=True)
                break  # a paid task: nothing more is sent
    if not agrees:
        raise SystemExit(EXIT_ERROR)


def _show(name: str, report: ProbeReport, *, as_json: bool, every: bool) -> None:
    if as_json:
        said = report.to_json()
        click.echo(json.dumps({"endpoint": name, **json.loads(said)}) if every else said)
    elif every:
        click.echo(clean(f"{name}: {report.summary()}"))
    else:
        click.echo(clean(report.summary()))
