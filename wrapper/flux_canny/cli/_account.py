"""`finetunes` and `finetune-details`: what your key can generate with."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..client import FluxCanny
from ..errors import APIStatusError
from ._options import api_options, make_client, settings_from

__all__ = ["credits", "finetune_details", "finetunes"]

T = TypeVar("T")


def _ask(values: dict[str, Any], question: Callable[[FluxCanny], T]) -> T:
    """One question to the API with the command's settings, the client closed after."""
    with make_client(settings_from(values)) as flux:
        return question(flux)


@click.command(
    epilog="""\b
Examples:
  flux-canny credits
  flux-canny credits --json"""
)
@click.option("--json", "as_json", is_flag=True, help='Print {"credits": N}.')
@api_options
def credits(as_json: bool, **values: Any) -> None:
    """Show the credits your API key has left."""
    left = _ask(values, lambda flux: flux.credits())
    click.echo(json.dumps({"credits": left}) if as_json else _readable(left))


@click.command(
    epilog="""\b
Examples:
  flux-canny finetunes
  flux-canny finetunes --json"""
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@api_options
def finetunes(as_json: bool, **values: Any) -> None:
    """List the finetune ids your API key has created, one per line."""
    ids = [str(i) for i in _ask(values, lambda flux: flux.my_finetunes())]
    if as_json:
        click.echo(json.dumps(ids))
    else:
        for finetune_id in ids:
            click.echo(finetune_id)


@click.command(
    "finetune-details",
    epilog="""\b
Examples:
  flux-canny finetune-details my-finetune
  flux-canny finetune-details my-finetune --json""",
)
@click.argument("finetune_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@api_options
def finetune_details(finetune_id: str, as_json: bool, **values: Any) -> None:
    """Show how FINETUNE_ID was trained (its parameters and metadata)."""
    with make_client(settings_from(values)) as flux:
        try:
            details = flux.finetune_details(finetune_id)
        except APIStatusError as error:
            if error.status_code == 404:
                error.args = (f"{error.args[0]}; `flux-canny finetunes` lists your ids",)
            raise
    if as_json:
        click.echo(json.dumps(details))
        return
    width = max((len(str(k)) for k in details), default=0)
    for key, value in details.items():
        shown = value if isinstance(value, str) else json.dumps(value)
        click.echo(f"{key:<{width}}  {shown}")


def _readable(credits: float) -> str:
    """1000000 → "1,000,000", 12.5 → "12.5": never "1e+06" for a person to decode."""
    if credits == int(credits) and abs(credits) < 1e18:
        return f"{int(credits):,}"
    return f"{credits:,.6f}".rstrip("0").rstrip(".")
