"""The console script exists and its mock-server prints a base URL that serves the fake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from flux_canny import __version__
from flux_canny.cli import main

SCRIPT = Path(sys.executable).parent / "flux-canny"


def test_version_and_unknown_commands(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"flux-canny {__version__}"
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_mock_server_prints_a_working_base_url():
    proc = subprocess.Popen(
        [str(SCRIPT), "mock-server", "--task-duration", "0.1"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        answer = httpx.get(f"{base}/v1/my_finetunes", headers={"x-key": "test-key"}, timeout=10)
        assert answer.json() == {"finetunes": ["my-finetune"]}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
