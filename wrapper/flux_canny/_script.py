"""The `flux-canny` script: the command line, or exactly what to install for it.

The script is installed with the core package, but the command line's own dependencies
(click, rich) come with the `[cli]` extra, so a plain `pip install flux-canny` stays light.
Without them the script says what to install instead of printing a traceback.
"""

from __future__ import annotations

import sys

HINT = "pip install 'flux-canny[cli]' (from a checkout: pip install '.[cli]')"


def main() -> int:
    try:
        import click  # noqa: F401
        import rich  # noqa: F401
    except ImportError as missing:
        sys.stderr.write(
            f"flux-canny: the command line needs {missing.name}, which comes with the [cli] "
            f"extra: {HINT}\n"
        )
        return 2
    from .cli import main as cli

    return cli()
