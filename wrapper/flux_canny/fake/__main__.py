"""`python -m flux_canny.fake`: the loopback fake, the same as `flux-canny mock-server`."""

from __future__ import annotations

import sys


def serve(argv: list[str] | None = None) -> int:
    from ..cli import main

    return main(["mock-server", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(serve())
