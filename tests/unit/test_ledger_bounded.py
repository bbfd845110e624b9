"""Every wait on the ledger is bounded, and a full disk is reported honestly (issue 28,
break 14).

The writers' turn lock held by another process blocked `generate` for as long as it was
held (44 s); now the wait ends after `lock_timeout` with a LedgerError naming the lock and
its holder, before anything is sent. A ledger that cannot record a task id after its POST
says that task's id, sends nothing more until the id is recorded, and never claims that
"nothing was submitted that could not be recorded".
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import subprocess
import sys

import pytest
from flux_canny import LedgerError
from flux_canny.fake import FakeBFL
from flux_canny.ledger import Ledger

ARGS = {"prompt": "a castle", "finetune_id": "my-finetune"}

_HOLD = (
    "import fcntl, sys\n"
    "lock = open(sys.argv[1], 'a')\n"
    "fcntl.flock(lock, fcntl.LOCK_EX)\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
)


@contextlib.contextmanager
def held_by_another_process(path):
    """The ledger's turn lock, held by a child process until the block ends."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD, f"{path}.lock"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        yield child.pid
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


@pytest.fixture
def fake(clock):
    return FakeBFL(clock=clock, task_duration=2.0)


def test_a_turn_held_by_another_process_ends_the_wait_with_its_name_before_any_post(
    tmp_path, fake, png
):
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path, lock_timeout=0.05)
    ledger.entries(1)  # made and set up: what waits now is a write
    with fake.client(ledger=ledger) as flux:
        with held_by_another_process(path) as pid, pytest.raises(LedgerError) as caught:
            flux.generate(control_image=png, **ARGS)
        said = str(caught.value)
        assert f"{path}.lock" in said and f"held by process {pid}" in said
        assert "nothing was submitted that could not be recorded" in said
        assert not fake.tasks  # refused before the POST
        flux.generate(control_image=png, **ARGS)  # let go: the next write takes its turn
    assert len(fake.tasks) == 1


def test_a_lock_timeout_that_is_no_duration_is_refused():
    from flux_canny import ConfigurationError

    with pytest.raises(ConfigurationError, match="lock_timeout"):
        Ledger(lock_timeout=float("nan"))


@contextlib.contextmanager
def disk_full_once(fake, tasks):
    """Every ledger write fails as on a full disk once the fake has made `tasks` tasks:
    the first to fail is the record of that task's id, after its POST."""
    real = Ledger._write

    @contextlib.contextmanager
    def write(self):
        with real(self) as db:
            if len(fake.tasks) >= tasks:
                raise sqlite3.OperationalError("database or disk is full")
            yield db

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Ledger, "_write", write)
        yield


def test_a_task_id_the_full_disk_could_not_record_is_said_and_stops_the_submits(
    tmp_path, fake, png, caplog
):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with fake.client(ledger=ledger) as flux:
        flux.generate(control_image=png, **ARGS)
        with disk_full_once(fake, tasks=2):
            image = flux.generate(control_image=png, **ARGS)  # paid: the image still comes
            unrecorded = image.task_id
            said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert any(
                f"task {unrecorded} was submitted" in s and f"flux-canny result {unrecorded}" in s
                for s in said
            )
            with pytest.raises(LedgerError) as caught:
                flux.generate(control_image=png, **ARGS)
            assert len(fake.tasks) == 2  # nothing more was sent
            refused = str(caught.value)
            assert f"submitted but not recorded: task {unrecorded}" in refused
            assert "nothing was submitted that could not be recorded" not in refused
        flux.generate(control_image=png, **ARGS)  # room again: the id is written first
    assert len(fake.tasks) == 3
    rows = {e.task_id: e.state for e in Ledger(ledger.path).entries()}
    assert rows[unrecorded] == "submitted"  # resumed by a rerun, never paid again
