"""Run `flux-canny` in-process against the fake on a virtual clock, and read what it says.

Each test gets its own journal (FLUX_CANNY_STATE_DIR) and working directory, so nothing
touches the user's real state.
"""

from __future__ import annotations

import contextlib
import errno
import json
import shlex
from pathlib import Path

import attrs
import pytest
from flux_canny.cli import main
from flux_canny.fake import FakeBFL, VirtualClock

from ..conftest import make_image


@attrs.frozen
class Ran:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)

    def json_lines(self):
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


async def _in_place(work, *args, **kwargs):
    return work(*args, **kwargs)


@pytest.fixture
def fake(wire_cli, monkeypatch) -> FakeBFL:
    """The fake on a virtual clock. Ledger writes and image saves run in place here, not
    on a worker thread: a virtual sleep costs no time and a thread hop costs real time,
    so with threads one task could retry through five queued faults in a row while the
    others waited on theirs, and which task failed changed from run to run. The thread
    path is tested on its own (tests/unit/test_offload.py) and by the real processes on
    a real clock in tests/paid_once."""
    from flux_canny import _offload

    monkeypatch.setattr(_offload, "off_loop", _in_place)
    fake = FakeBFL(clock=VirtualClock(), task_duration=3.0)
    wire_cli(transport=fake.transport(), clock=fake.clock)
    return fake


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLUX_CANNY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("BFL_API_KEY", "test-key")
    monkeypatch.delenv("BFL_BASE_URL", raising=False)
    (tmp_path / "control.png").write_bytes(make_image("PNG", (96, 64)))
    return tmp_path


@pytest.fixture
def run(capsys, workdir):
    """run("generate control.png ...") → Ran(code, out, err)."""

    def run(command: str | list[str]) -> Ran:
        args = shlex.split(command) if isinstance(command, str) else command
        capsys.readouterr()
        code = main(args)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


GEN = "generate control.png --prompt 'a castle' --finetune-id my-finetune"


@contextlib.contextmanager
def disk_full_in(folder: Path):
    """Every image saved straight into `folder` fails with ENOSPC, as on a full disk."""
    from flux_canny import GeneratedImage

    save = GeneratedImage.save

    def disk_full(self, path, *, overwrite=True):
        if Path(path).absolute().parent == folder:
            raise OSError(errno.ENOSPC, "No space left on device")
        return save(self, path, overwrite=overwrite)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GeneratedImage, "save", disk_full)
        yield
