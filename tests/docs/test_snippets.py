"""Every Python snippet in the README runs as printed, against the fake on loopback, with
only what the README says to set (BFL_API_KEY, BFL_BASE_URL) and an edges.png at hand."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from flux_canny.fake import FakeBFL, FakeServer

from ..conftest import ROOT, make_image

README = (ROOT / "README.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_the_readme_has_python_snippets():
    assert len(SNIPPETS) >= 6


@pytest.fixture(scope="module")
def mock_server():
    with FakeServer(FakeBFL(task_duration=0.3)) as server:
        yield server


@pytest.mark.parametrize("number", range(len(SNIPPETS)))
def test_each_readme_snippet_runs_as_printed(number, mock_server, tmp_path):
    snippet = SNIPPETS[number]
    (tmp_path / "edges.png").write_bytes(make_image("PNG", (256, 256)))
    (tmp_path / f"snippet_{number}.py").write_text(snippet, encoding="utf-8")
    env = {
        **os.environ,
        "BFL_API_KEY": "test-key",
        "BFL_BASE_URL": mock_server.base_url,
        "FLUX_CANNY_STATE_DIR": str(tmp_path / "state"),
    }
    ran = subprocess.run(
        [sys.executable, f"snippet_{number}.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, f"README snippet {number}:\n{snippet}\n{ran.stderr}"
    if "image.save(" in snippet:
        assert any(Path(tmp_path).glob("*.png")) or any(Path(tmp_path).glob("*.jpg"))
    if "summary()" in snippet:
        assert "responses checked" in ran.stdout


def test_the_first_screen_says_the_endpoint_is_gone_from_bfls_newest_spec():
    first_screen = "\n".join(README.splitlines()[:20])
    assert "newest published OpenAPI document no longer lists this endpoint" in first_screen
    assert "flux-canny spec-diff openapi.json tests/data/bfl-openapi/08-" in first_screen


def test_the_path_instructions_work_in_a_new_shell():
    venv = Path(sys.executable).parent.parent
    if not (venv / "bin" / "activate").exists():
        pytest.skip("not running from a virtual environment")
    shown = subprocess.run(
        ["bash", "-c", f"source {venv}/bin/activate && flux-canny --version"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert shown.returncode == 0 and shown.stdout.startswith("flux-canny ")
    assert "source .venv/bin/activate" in README and ".venv/bin/flux-canny --help" in README
