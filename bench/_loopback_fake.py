"""The fake BFL API in a process of its own on loopback, for the benchmarks that count
only the client's CPU or run the real command against it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def loopback_fake(task_seconds: float) -> Iterator[str]:
    """The fake's base URL while it runs (each task `task_seconds` long); stopped on
    leaving, whatever happened inside."""
    server = subprocess.Popen(
        [sys.executable, "-m", "flux_canny.fake", "--task-duration", str(task_seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait(10)
