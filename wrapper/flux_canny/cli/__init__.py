"""The `flux-canny` command: generate, result, tasks, batch, probe, endpoints, spec-diff...

Errors end as one line on stderr and a documented exit status (see `_exit`); `--debug`
adds the traceback and a log of every request.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

import click

from .. import __version__
from ._account import credits, finetune_details, finetunes
from ._batch import batch
from ._edges import edges
from ._endpoints import endpoints
from ._exit import EXIT_CODES_HELP, EXIT_ERROR, EXIT_INTERRUPTED, exit_code_for, one_line
from ._mock import mock_server
from ._probe import probe
from ._single import generate, result
from ._spec_diff import spec_diff
from ._tasks import tasks
from ._webhooks import webhook_listen

__all__ = ["cli", "main"]


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES_HELP
    + """

\b
The API key comes from BFL_API_KEY (or --api-key), the API root from
BFL_BASE_URL (or --base-url). Try it without a key against the built-in fake:
  flux-canny mock-server &          # prints http://127.0.0.1:PORT
  BFL_API_KEY=test-key BFL_BASE_URL=http://127.0.0.1:PORT \\
      flux-canny generate edges.png --prompt "a castle" --finetune-id my-finetune""",
)
@click.version_option(
    __version__, "--version", prog_name="flux-canny", message="%(prog)s %(version)s"
)
def cli() -> None:
    """Generate images with BFL's endpoints: FLUX.2, Kontext, Fill, Expand, Ultra... and
    the FLUX.1 Canny [pro] finetune, the default (`flux-canny endpoints` lists them)."""


for _command in (
    generate,
    endpoints,
    result,
    tasks,
    batch,
    edges,
    finetunes,
    finetune_details,
    credits,
    spec_diff,
    mock_server,
    webhook_listen,
    probe,
):
    cli.add_command(_command)


def _debug_requested(args: list[str]) -> bool:
    return "--debug" in args


def main(argv: list[str] | None = None) -> int:
    """Run the command; return its exit status instead of raising."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    if debug:
        # our own story (each request, retry and decision); the HTTP libraries' internals
        # only when they warn
        logging.basicConfig(
            level=logging.WARNING, format="%(name)s: %(message)s", stream=sys.stderr
        )
        logging.getLogger("flux_canny").setLevel(logging.DEBUG)
    try:
        outcome: Any = cli.main(args=args, prog_name="flux-canny", standalone_mode=False)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else EXIT_ERROR
    except click.exceptions.Abort:
        click.echo("flux-canny: interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.exceptions.NoArgsIsHelpError as asked:  # bare `flux-canny`: its help
        if asked.ctx is not None:
            click.echo(asked.ctx.get_help())
        return 0
    except click.UsageError as error:
        where = error.ctx.command_path if error.ctx is not None else "flux-canny"
        click.echo(f"{where}: error: {one_line(error)} (see {where} --help)", err=True)
        return exit_code_for(error)
    except KeyboardInterrupt:
        click.echo("flux-canny: interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as error:  # every failure: one line, a documented status
        if debug:
            traceback.print_exc()
        click.echo(f"flux-canny: error: {one_line(error)}", err=True)
        return exit_code_for(error)
    return outcome if isinstance(outcome, int) else 0


if __name__ == "__main__":
    sys.exit(main())
