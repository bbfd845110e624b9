"""The `flux-canny` command. So far: `mock-server` (the fake on loopback) and `--version`.

generate / result / batch / edges / finetunes arrive with the CLI issue; until then the
library API does all of it (see README).
"""

from __future__ import annotations

import sys

from . import __version__

_USAGE = """usage: flux-canny [--version] COMMAND ...

commands:
  mock-server   run the fake BFL API on 127.0.0.1 and print its base URL
                e.g. flux-canny mock-server --port 8080 --task-duration 5
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_USAGE, end="")
        return 0
    if args[0] == "--version":
        print(f"flux-canny {__version__}")
        return 0
    if args[0] == "mock-server":
        from .fake.__main__ import serve

        return serve(args[1:])
    print(
        f"flux-canny: unknown command {args[0]!r} (this version has: mock-server); "
        "use the Python API for generations",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
