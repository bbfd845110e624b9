"""`flux-canny mock-server` run as a user runs it: a process of its own, its base URL the
first line it prints. One helper for every test that needs the real command."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

#: the console script the package installs, beside this interpreter
SCRIPT = Path(sys.executable).parent / "flux-canny"


@contextlib.contextmanager
def mock_server_process(
    *flags: str, stderr: int = subprocess.DEVNULL
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The running command's base URL and its process (stderr piped when asked, for the
    banner); stopped on leaving, whatever happened inside."""
    proc = subprocess.Popen(
        [str(SCRIPT), "mock-server", *flags], stdout=subprocess.PIPE, stderr=stderr, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip(), proc
    finally:
        proc.terminate()
        proc.wait(10)
