"""Real `flux-canny batch` processes against the fake on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from flux_canny.fake import FakeBFL, FakeServer

from ..cli.test_batch import _write_jobs

KEY = "test-key"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """kill -9 trials: a small sample in `make test`, the full 30 in `make test-thorough`."""
    if "kill_trial" in metafunc.fixturenames:
        thorough = metafunc.config.getoption("hypothesis_profile", None) == "thorough"
        metafunc.parametrize("kill_trial", range(30 if thorough else 2))


@pytest.fixture
def server():
    fake = FakeBFL(task_duration=0.3, api_keys=[KEY])
    with FakeServer(fake) as running:
        yield running


@attrs.define
class Batch:
    """One output folder, one jobs file and one state folder, run by real processes."""

    root: Path
    server: FakeServer
    count: int
    #: how the command is started: `python -m flux_canny.cli`, or a script that changes
    #: the process first (see WINDOWS_LIKE)
    launcher: tuple[str, ...] = (sys.executable, "-m", "flux_canny.cli")

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "BFL_API_KEY": KEY,
            "BFL_BASE_URL": self.server.base_url,
            "FLUX_CANNY_STATE_DIR": str(self.state),
        }

    def command(self, *extra: str) -> list[str]:
        return [
            *self.launcher,
            "batch",
            str(self.root / "jobs.jsonl"),
            "-o",
            str(self.out),
            "--json",
            "-q",
            *extra,
        ]

    def start(self, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*extra),
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *extra: str, timeout: float = 120) -> tuple[int, list[dict], str]:
        done = subprocess.run(
            self.command(*extra),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        return done.returncode, lines, done.stderr

    def images(self) -> set[str]:
        return {p.stem for p in self.out.glob("job*.jpg")} if self.out.exists() else set()

    def created(self) -> int:
        return sum(self.server.fake.tasks_created.values())

    def settle(self) -> list[dict]:
        """Rerun until done, then hold the promise: tasks ≤ jobs, images + uncertain = jobs."""
        code, summary, err = self.run()
        statuses = {s["name"]: s["status"] for s in summary}
        uncertain = {name for name, status in statuses.items() if status == "uncertain"}
        assert self.created() <= self.count, err
        assert self.images() | uncertain == {f"job{i:03d}" for i in range(self.count)}, summary
        assert not self.images() & uncertain
        assert code == (1 if uncertain else 0), err
        return summary


#: the command as on Windows, where an event loop takes no signal handlers
WINDOWS_LIKE = (
    sys.executable,
    "-c",
    "import asyncio, runpy\n"
    "def refuse(self, *args):\n"
    "    raise NotImplementedError\n"
    "asyncio.SelectorEventLoop.add_signal_handler = refuse\n"
    "runpy.run_module('flux_canny.cli', run_name='__main__')\n",
)


@pytest.fixture
def batch(tmp_path, server):
    def make(count: int = 6) -> Batch:
        _write_jobs(tmp_path, count)  # job000..., as the in-process batch tests write them
        return Batch(tmp_path, server, count)

    return make
