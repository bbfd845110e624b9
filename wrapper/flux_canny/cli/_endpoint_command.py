"""A command whose request flags are the chosen endpoint's: `generate --endpoint NAME`.

Click builds a command's options once, but each endpoint has its own request schema. So
the command reads `--endpoint` from the arguments before parsing them, and offers that
endpoint's flags (with their ranges and defaults in `--help`); a flag that only another
endpoint takes is refused naming the endpoints that take it, a typo gets click's
suggestion among the chosen endpoint's flags.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from .._operations import CANNY, Operation, operation, taken_elsewhere
from ..errors import InvalidArgumentError
from ._options import request_params

__all__ = ["ENDPOINT_OPTION", "EndpointCommand", "chosen_endpoint"]

_META = "flux_canny.endpoint"
_FLAG = "--endpoint"

ENDPOINT_OPTION = click.option(
    _FLAG,
    "endpoint",
    default=CANNY,
    metavar="NAME",
    help="The endpoint to call, as BFL names its models (see `flux-canny endpoints`); "
    "its request flags are listed by `--endpoint NAME --help` [default: " + CANNY + "].",
)


def _named_in(args: Sequence[str]) -> str:
    """The endpoint the arguments name (the last --endpoint wins, as click reads it)."""
    named = CANNY
    for at, word in enumerate(args):
        if word == "--":
            break
        if word == _FLAG and at + 1 < len(args):
            named = args[at + 1]
        elif word.startswith(_FLAG + "="):
            named = word.split("=", 1)[1]
    return named


def chosen_endpoint(ctx: click.Context) -> Operation:
    """The endpoint this invocation of an EndpointCommand is for."""
    return operation(ctx.meta.get(_META, CANNY))


def _field_of(flag: str) -> str:
    bare = flag.split("=", 1)[0].removeprefix("--")
    return bare.removeprefix("no-").replace("-", "_")


class EndpointCommand(click.Command):
    """A command taking `--endpoint NAME` and that endpoint's request flags.

    `canny_argument` is the positional argument the canny finetune keeps (its control
    image); other endpoints take their images as options named after their fields.
    """

    def __init__(self, *args: Any, canny_argument: click.Argument, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._canny_argument = canny_argument

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        endpoint = chosen_endpoint(ctx)
        extra: list[click.Parameter] = list(request_params(endpoint.name))
        if endpoint.name == CANNY:
            extra.insert(0, self._canny_argument)
        own = super().get_params(ctx)
        # right after --endpoint, where the canny finetune's flags always were
        return [*own[:1], *extra, *own[1:]]

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        named = _named_in(args)
        try:
            ctx.meta[_META] = operation(named).name
        except InvalidArgumentError as error:
            raise click.BadParameter(str(error), ctx=ctx, param_hint=f"'{_FLAG}'") from None
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as error:
            field = _field_of(error.option_name)
            takers = taken_elsewhere(field, but=named)
            if not takers:
                raise
            raise click.UsageError(
                f"{error.option_name.split('=', 1)[0]} is not a flag of {named}; "
                f"the endpoints that take {field} are {', '.join(takers)} "
                f"(pass {_FLAG} NAME)",
                ctx=ctx,
            ) from None
        except click.UsageError as error:
            if named != CANNY and "unexpected extra argument" in error.format_message():
                fields = operation(named).image_fields
                images = ", ".join(f"--{f.replace('_', '-')}" for f in fields)
                takes = f"its images as {images}" if images else "no image"
                raise click.UsageError(
                    f"{named} takes no positional argument ({takes}); "
                    f"the positional control image is the {CANNY} endpoint's",
                    ctx=ctx,
                ) from None
            raise

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help_text(ctx, formatter)
        endpoint = chosen_endpoint(ctx)
        said = f"{endpoint.summary} ({endpoint.name})" if endpoint.summary else endpoint.name
        with formatter.indentation():
            formatter.write_paragraph()
            formatter.write_text(
                f"Endpoint: {said}; the flags below are its request's. "
                f"The others: `flux-canny endpoints`."
            )
