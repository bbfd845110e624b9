"""`python -m flux_canny.fake`: the loopback fake, until Ctrl-C (also `flux-canny mock-server`)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading

from . import FakeBFL, FakeServer


def serve(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="flux-canny mock-server",
        description="Run the fake BFL API on 127.0.0.1 and print its base URL.",
        epilog="Examples:\n  flux-canny mock-server --port 8080 --task-duration 5\n"
        "  flux-canny mock-server --no-progress --key my-test-key",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--key", action="append", help="accepted API key (default: test-key)")
    parser.add_argument("--task-duration", type=float, default=2.0, help="seconds per task")
    parser.add_argument("--no-progress", action="store_true", help="report no progress")
    parser.add_argument("--max-active-tasks", type=int, default=24)
    args = parser.parse_args(argv)
    fake = FakeBFL(
        api_keys=args.key or ["test-key"],
        task_duration=args.task_duration,
        report_progress=not args.no_progress,
        max_active_tasks=args.max_active_tasks,
    )
    with FakeServer(fake, port=args.port) as server:
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
