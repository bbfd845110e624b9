"""Paid once, whatever happens: kill -9, outages, lost answers, two processes, Ctrl-C.

Each test runs `flux-canny batch` as a real process against the fake on loopback, then
reruns it, and holds the promise: tasks created ≤ jobs, and every job either has its
image or is reported uncertain (never both, never neither).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time

import pytest
from flux_canny.ledger import Ledger

from .conftest import WINDOWS_LIKE


def _wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_kill_9_at_a_random_moment_never_pays_twice(batch, server, kill_trial):
    work = batch(6)
    server.fake.submit_latency = 0.4  # the window in which a task exists but its id does not
    rng = random.Random(kill_trial)
    process = work.start("--concurrency", "3")
    _wait_for(lambda: server.fake.requests[("POST", "/v1/flux-pro-1.0-canny-finetuned")] >= 1)
    time.sleep(rng.uniform(0.0, 1.5))
    process.kill()
    process.wait(10)
    server.fake.submit_latency = 0.0
    work.settle()


def test_a_poll_outage_longer_than_the_wait_is_resumed_not_resubmitted(batch, server):
    work = batch(4)
    server.fake.fail_next(10_000, "connect", path="/v1/get_result")
    code, summary, _err = work.run("--timeout", "2")
    assert code == 1 and work.created() == 4 and not work.images()
    assert {s["status"] for s in summary} <= {"error", "timeout"}, summary
    server.fake.clear_faults()
    summary = work.settle()
    assert work.created() == 4 and {s["status"] for s in summary} == {"ok"}


@pytest.mark.skipif(
    "config.getoption('hypothesis_profile') != 'thorough'",
    reason="the same path as the poll outage; run in make test-thorough",
)
def test_the_image_host_down_then_rerun(batch, server):
    work = batch(3)
    server.fake.fail_next(10_000, 503, path="/results/")
    code, _summary, _ = work.run()
    assert code == 1 and work.created() == 3
    server.fake.clear_faults()
    work.settle()
    assert work.created() == 3


def test_a_lost_submit_answer_is_uncertain_on_every_rerun(batch, server):
    work = batch(3)
    server.fake.fail_next(1, "drop", path="/v1/flux-pro-1.0-canny-finetuned")
    code, summary, _ = work.run("--concurrency", "1")
    assert code == 1 and [s["status"] for s in summary].count("uncertain") == 1
    assert work.created() == 3  # the dropped answer's task exists
    summary = work.settle()  # not resubmitted
    assert work.created() == 3
    (uncertain,) = [s for s in summary if s["status"] == "uncertain"]
    assert "--resubmit-uncertain" in uncertain["error"]
    code, summary, _ = work.run("--resubmit-uncertain")  # the user decides
    assert code == 0 and work.created() == 4 and len(work.images()) == 3


def test_two_processes_on_one_folder_share_the_jobs(batch, server):
    work = batch(10)
    server.fake.submit_latency = 0.2
    first, second = work.start("--concurrency", "3"), work.start("--concurrency", "3")
    for process in (first, second):
        process.wait(120)
    assert work.created() == 10 and len(work.images()) == 10
    server.fake.submit_latency = 0.0
    work.settle()
    assert work.created() == 10


@pytest.mark.parametrize(
    ("signum", "launcher"),
    [(signal.SIGINT, None), (signal.SIGTERM, None), (signal.SIGINT, WINDOWS_LIKE)],
    ids=["SIGINT", "SIGTERM", "SIGINT-no-loop-signals"],
)
def test_ctrl_c_with_submits_in_flight_records_their_ids(batch, server, signum, launcher):
    """no-loop-signals: the loop takes no signal handlers, as on Windows, so Ctrl-C goes
    through asyncio.run's own handler (it cancels the batch); the client's close still
    waits for the submits in flight, and their ids are kept."""
    work = batch(8)
    if launcher is not None:
        work.launcher = launcher
    server.fake.submit_latency = 0.6
    server.fake.task_duration = 5.0
    process = work.start("--concurrency", "4")
    _wait_for(lambda: work.created() >= 2)  # submits are in flight: their tasks exist
    process.send_signal(signum)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err and "uncertain" not in err.split("interrupted", 1)[1], err
    with Ledger(work.state / "ledger.sqlite3") as ledger:
        recorded = {e.task_id for e in ledger.entries() if e.task_id}
    assert recorded == set(server.fake.tasks)  # every paid task's id was kept
    server.fake.submit_latency = 0.0
    server.fake.task_duration = 0.3
    for task in server.fake.tasks.values():  # the rerun need not sit out the 5 s tasks
        task.duration = 0.3
    work.settle()
    assert work.created() == len(recorded) + (8 - len(recorded))


def _immutable(folder):
    """A folder nobody can write, root included (chattr +i), or None where that fails."""
    folder.mkdir()
    if (
        shutil.which("chattr")
        and subprocess.run(["chattr", "+i", str(folder)], check=False).returncode == 0
    ):
        return lambda: subprocess.run(["chattr", "-i", str(folder)], check=False)
    folder.chmod(0o555)
    probe = folder / "probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return lambda: folder.chmod(0o755)
    probe.unlink()
    return None


def test_a_read_only_output_folder_is_refused_before_paying(batch, server):
    work = batch(2)
    undo = _immutable(work.out)
    if undo is None:
        pytest.skip("cannot make a read-only folder here")
    try:
        code, _, err = work.run()
    finally:
        undo()
    assert code == 2 and "cannot write" in err and "nothing was submitted" in err
    assert not server.fake.records


def test_a_name_too_long_for_the_file_system_is_refused_before_paying(batch, server):
    work = batch(1)
    jobs = work.root / "jobs.jsonl"
    # 120 two-byte letters: a legal job name, but 240 bytes + ".jpg" + the temp name's 15
    jobs.write_text(jobs.read_text().replace('"job000"', '"' + "é" * 120 + '"'))
    code, _, err = work.run()
    assert code == 2 and "exceeds this file system" in err
    assert not server.fake.records


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs, or a skip where mounting is not allowed."""
    mount = tmp_path / "out"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder, leave):
    """Fill `folder`'s file system until `leave` bytes are free."""
    stats = os.statvfs(folder)
    filler = folder / ".filler"
    filler.write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return filler


def test_a_disk_that_fills_up_keeps_the_paid_images_and_the_rerun_finishes_them(
    batch, server, tiny_disk
):
    work = batch(3)
    # room for the free-space check's estimate (the images are tiny) and for one image
    filler = _fill(tiny_disk, leave=4096)
    code, summary, err = work.run()
    statuses = [s["status"] for s in summary]
    assert code == 1 and "kept" in statuses, (summary, err)
    assert set(statuses) <= {"ok", "kept"}
    assert work.created() == 3
    for line in summary:
        if line["status"] == "kept":
            assert "No space left" in line["error"] and line["task_id"]
    filler.unlink()  # the user makes room
    requests = len(server.fake.records)
    work.settle()
    assert work.created() == 3 and len(work.images()) == 3
    assert len(server.fake.records) == requests  # finished from the kept images: no request
