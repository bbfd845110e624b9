"""The installed console script: help, version, mock-server, and a real Ctrl-C on loopback."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from flux_canny import __version__
from flux_canny.cli import cli, main
from flux_canny.fake import FakeBFL, FakeServer
from PIL import Image

from .._mock_server import SCRIPT, mock_server_process
from ..conftest import make_image


def test_version_and_unknown_commands(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"flux-canny {__version__}"
    assert main(["frobnicate"]) == 2
    assert capsys.readouterr().err.strip() == (
        "flux-canny: error: No such command 'frobnicate'. (see flux-canny --help)"
    )


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help_with_an_example(capsys, command):
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert f"sage: flux-canny {command}" in text and "Example" in text


def test_top_level_help_documents_the_exit_codes(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "130"):
        assert f"\n    {code}" in text
    assert "BFL_API_KEY" in text and "BFL_BASE_URL" in text


def test_mock_server_prints_a_working_base_url():
    with mock_server_process("--task-duration", "0.1") as (base, _):
        assert base.startswith("http://127.0.0.1:")
        answer = httpx.get(f"{base}/v1/my_finetunes", headers={"x-key": "test-key"}, timeout=10)
        assert answer.json() == {"finetunes": ["my-finetune"]}


def test_a_real_ctrl_c_then_the_printed_command_finishes_the_task(tmp_path):
    """SIGINT to the real process while it polls the loopback fake; exit 130; the line
    it prints, run as a command, downloads the same task."""
    (tmp_path / "edges.png").write_bytes(make_image("PNG", (256, 256)))  # within BFL's limits
    env = {
        **os.environ,
        "BFL_API_KEY": "test-key",
        "FLUX_CANNY_STATE_DIR": str(tmp_path / "state"),
    }
    with FakeServer(FakeBFL(task_duration=2.5)) as server:
        env["BFL_BASE_URL"] = server.base_url
        command = [str(SCRIPT), "generate", "edges.png", "--prompt", "p"]
        command += ["--finetune-id", "my-finetune", "-o", "out.png"]
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith("submitted task ")
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        err = proc.stderr.read()
        assert proc.wait(timeout=20) == 130
        last = err.strip().splitlines()[-1]
        assert "still running. Resume with: flux-canny result " in last
        assert "Traceback" not in err
        resume = shlex.split(last.split("Resume with: ", 1)[1])
        for task in server.fake.tasks.values():  # the rerun need not sit out the rest
            task.duration = 0.5
        done = subprocess.run(
            [str(SCRIPT), *resume[1:]], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "out.png"
        with Image.open(tmp_path / "out.png") as image:
            assert image.format == "PNG"
        assert sum(server.fake.tasks_created.values()) == 1


def _examples(help_text):
    lines = help_text.split("Example", 1)[1].splitlines()[1:]
    return [line.strip() for line in lines if line.strip().startswith("flux-canny")]


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_the_docs_show_every_commands_examples(capsys, command):
    """The docs' command line page is the help text: each example appears in both."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    assert main([command, "--help"]) == 0
    examples = _examples(capsys.readouterr().out)
    assert examples
    for example in examples:
        assert example in page, example
