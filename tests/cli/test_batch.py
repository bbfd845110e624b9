"""`batch`: every job exactly once, through faults, failures, interruption and reruns."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
from pathlib import Path

import pytest
from flux_canny._offload import off_loop as real_off_loop  # before the fake fixture patches it
from flux_canny.cli import _exit
from flux_canny.cli._progress import BatchProgress
from flux_canny.ledger import OLD_BATCH_FILE, Ledger
from PIL import Image

from ..conftest import make_image
from .conftest import GEN, disk_full_in

SUBMIT = "/v1/flux-pro-1.0-canny-finetuned"


def _write_jobs(workdir, count, **extra):
    (workdir / "edges").mkdir(exist_ok=True)
    lines = []
    for i in range(count):
        image = workdir / "edges" / f"c{i}.png"
        image.write_bytes(make_image("PNG", (40 + i, 32)))
        job = {
            "name": f"job{i:03d}",
            "control_image": f"edges/c{i}.png",
            "prompt": f"castle {i}",
            "finetune_id": "my-finetune",
            "seed": i,
            **extra,
        }
        lines.append(json.dumps(job))
    (workdir / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    return [json.loads(line) for line in lines]


def _images(workdir):
    return sorted(p.name for p in (workdir / "out").glob("*.jpg"))


def test_a_batch_through_faults_finishes_every_job_exactly_once(run, fake, workdir):
    jobs = _write_jobs(workdir, 40)
    fake.max_active_tasks = 24
    rng = random.Random(7)
    # recoverable faults on every path: the batch retries them; nothing is submitted twice
    for _ in range(30):
        kind = rng.choice([500, 502, 503, 429, "malformed", "drop", "slow", "connect"])
        path = rng.choice(["/v1/get_result", None])
        fake.fail_next(1, kind, path=path, delay=2.0) if kind == "slow" else fake.fail_next(
            1, kind, path=path or "/v1/get_result"
        )
    fake.fail_next(3, 429, path=SUBMIT, retry_after=1.0)
    fake.fail_next(2, "connect", path=SUBMIT)
    ran = run("batch jobs.jsonl -o out --json --concurrency 24")
    assert ran.code == 0, ran.err
    refused = [r for r in fake.records if r.status in (429, 500, 502, 503)]
    assert len(refused) >= 10  # the faults did happen
    summary = ran.json_lines()
    assert [s["name"] for s in summary] == [j["name"] for j in jobs]
    assert {s["status"] for s in summary} == {"ok"}
    assert _images(workdir) == sorted(f"{j['name']}.jpg" for j in jobs)
    # exactly one task per job, each job's image made from its own request
    assert sum(fake.tasks_created.values()) == len(jobs)
    by_id = {s["task_id"]: s["name"] for s in summary}
    assert len(by_id) == len(jobs)
    for task_id, name in by_id.items():
        assert fake.tasks[task_id].body["prompt"] == f"castle {int(name[3:])}"
    # a rerun finds every image and pays for nothing
    again = run("batch jobs.jsonl -o out --json")
    assert again.code == 0 and {s["status"] for s in again.json_lines()} == {"skipped"}
    assert sum(fake.tasks_created.values()) == len(jobs)


def test_failing_jobs_do_not_stop_the_rest_and_the_exit_status_says_so(run, fake, workdir):
    _write_jobs(workdir, 6)
    fake.queue_outcomes("Ready", "Content Moderated", "Ready", "Failed", "Ready", "Ready")
    ran = run("batch jobs.jsonl -o out --concurrency 1")
    assert ran.code == 1
    assert "4 ok" in ran.out and "1 moderated" in ran.out and "1 failed" in ran.out
    assert len(_images(workdir)) == 4
    # a rerun retries only the failed ones, with new tasks
    ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 0, ran.out
    statuses = [s["status"] for s in ran.json_lines()]
    assert statuses.count("ok") == 2 and statuses.count("skipped") == 4
    assert sum(fake.tasks_created.values()) == 8


def test_an_interrupted_batch_resumes_its_tasks_without_paying_twice(
    run, fake, workdir, monkeypatch
):
    jobs = _write_jobs(workdir, 30)
    fake.task_duration = 30.0
    finished = []
    original = BatchProgress.finished

    def interrupt_after_five(self, name, error, **how):
        original(self, name, error, **how)
        finished.append(name)
        if len(finished) == 5:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, through the batch's handler

    with monkeypatch.context() as patch:
        patch.setattr(BatchProgress, "finished", interrupt_after_five)
        ran = run("batch jobs.jsonl -o out --concurrency 10")
    assert ran.code == _exit.EXIT_INTERRUPTED
    assert "run the same command again to resume them" in ran.err.strip().splitlines()[-1]
    created_before = sum(fake.tasks_created.values())
    assert 5 <= len(_images(workdir)) < created_before <= 30
    with Ledger() as ledger:
        recorded = {e.task_id for e in ledger.entries() if e.task_id}
    assert recorded == set(fake.tasks)  # every paid task is known
    ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 0, ran.err
    assert len(_images(workdir)) == len(jobs)
    assert sum(fake.tasks_created.values()) == len(jobs)  # nothing was submitted twice


def test_a_resumed_task_the_server_does_not_know_is_reported_and_paid_only_on_the_users_word(
    run, fake, workdir
):
    _write_jobs(workdir, 2)
    (workdir / "out").mkdir()
    # an older version's batch state file: read once into the ledger, so its task is resumed
    state = workdir / "out" / OLD_BATCH_FILE
    state.write_text(
        json.dumps({"name": "job000", "task_id": "gone-task", "status": "submitted"}) + "\n"
    )
    ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 1, ran.err
    first, second = ran.json_lines()
    assert [first["status"], second["status"]] == ["not found", "ok"]
    assert "gone-task" in first["error"] and "--resubmit-not-found" in first["error"]
    assert sum(fake.tasks_created.values()) == 1  # not found is no reason to pay
    assert not state.exists()
    again = run("batch jobs.jsonl -o out --json")  # looked for again, still not paid
    assert again.code == 1 and sum(fake.tasks_created.values()) == 1
    paid = run("batch jobs.jsonl -o out --json --resubmit-not-found")
    assert paid.code == 0, paid.err
    first, _ = paid.json_lines()
    assert first["status"] == "ok" and "submitted again" in first["error"]
    assert sum(fake.tasks_created.values()) == 2


def test_a_jobs_file_with_problems_submits_nothing(run, fake, workdir):
    _write_jobs(workdir, 2)
    with (workdir / "jobs.jsonl").open("a") as jobs:
        jobs.write("not json\n")
        jobs.write(json.dumps({"control_image": "edges/c0.png", "prompt": "p"}) + "\n")
        jobs.write(
            json.dumps({"control_image": "nope.png", "prompt": "p", "finetune_id": "f", "stepz": 3})
            + "\n"
        )
        jobs.write(
            json.dumps(
                {
                    "name": "job000",
                    "control_image": "edges/c1.png",
                    "prompt": "p",
                    "finetune_id": "f",
                    "steps": 99,
                }
            )
            + "\n"
        )
        jobs.write(
            json.dumps(
                {
                    "name": "job001",
                    "control_image": "edges/c1.png",
                    "prompt": "p",
                    "finetune_id": "f",
                }
            )
            + "\n"
        )
    ran = run("batch jobs.jsonl -o out")
    assert ran.code == _exit.EXIT_BAD_INPUT
    for expected in (
        "jobs.jsonl:3: not JSON",
        "jobs.jsonl:4: finetune_id: Field required",
        "jobs.jsonl:5: unknown field 'stepz' (did you mean 'steps'?)",
        "jobs.jsonl:5: control image file not found",
        "jobs.jsonl:6: steps: Input should be less than or equal to 50",
        "jobs.jsonl:7: name 'job001' is also on line 2",
        "nothing was submitted",
    ):
        assert expected in ran.err
    assert not fake.records and not (workdir / "out").exists()
    skipped = run("batch jobs.jsonl -o out --skip-invalid --json")
    assert skipped.code == 1 and len(_images(workdir)) == 2
    # the lines left out are in the summary, so exit 1 is explained
    rows = {r["line"]: r for r in skipped.json_lines()}
    assert [rows[n]["status"] for n in (1, 2)] == ["ok", "ok"]
    assert {rows[n]["status"] for n in (3, 4, 5, 6, 7)} == {"invalid"}
    assert "did you mean 'steps'" in rows[5]["error"] and "not JSON" in rows[3]["error"]


def test_batch_output_formats_and_default_names(run, fake, workdir):
    (workdir / "c.png").write_bytes(make_image())
    job = {
        "control_image": "c.png",
        "prompt": "p",
        "finetune_id": "my-finetune",
        "output_format": "png",
    }
    (workdir / "jobs.jsonl").write_text(json.dumps(job) + "\n\n")
    ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 0, ran.err
    (entry,) = ran.json_lines()
    assert entry["name"].startswith("job-") and entry["path"].endswith(".png")
    with Image.open(entry["path"]) as image:
        assert image.format == "PNG"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("batch missing.jsonl -o out", "cannot read missing.jsonl"),
        ("batch empty.jsonl -o out", "has no jobs"),
        ("batch jobs.jsonl -o control.png", "'control.png' is a file"),
    ],
)
def test_batch_bad_arguments(run, fake, workdir, command, message):
    (workdir / "empty.jsonl").write_text("\n")
    _write_jobs(workdir, 1)
    ran = run(command)
    assert ran.code == _exit.EXIT_BAD_INPUT and message in ran.err and not fake.records


def test_a_full_disk_keeps_the_paid_image_and_the_rerun_finishes_it(
    run, fake, workdir, monkeypatch
):
    _write_jobs(workdir, 4)
    with disk_full_in(workdir / "out"):
        ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 1
    summary = ran.json_lines()
    assert {s["status"] for s in summary} == {"kept"}
    assert all("No space left" in s["error"] and "kept at" in s["error"] for s in summary)
    with Ledger() as ledger:
        kept = [e for e in ledger.entries() if e.state == "kept"]
    assert len(kept) == 4 and all(Path(e.kept_at).exists() for e in kept)
    polls = fake.requests[("GET", "/v1/get_result")]
    again = run("batch jobs.jsonl -o out --json")
    assert again.code == 0, again.err
    assert {s["status"] for s in again.json_lines()} == {"ok"}
    assert len(_images(workdir)) == 4
    # finished from the kept files: no task, no poll, no download
    assert sum(fake.tasks_created.values()) == 4
    assert fake.requests[("GET", "/v1/get_result")] == polls
    assert not any(Path(e.kept_at).exists() for e in kept)


def test_an_image_is_on_the_disk_under_its_name_before_write_atomic_returns(tmp_path, monkeypatch):
    """The ledger is told `downloaded` next: the data, then the rename (the folder)."""
    from flux_canny import _files
    from flux_canny.images import write_atomic

    synced = []
    real = _files.full_sync

    def fsync(fd):
        where = os.readlink(f"/proc/self/fd/{fd}")
        synced.append((where, (tmp_path / "out.png").exists()))
        real(fd)

    monkeypatch.setattr(_files, "full_sync", fsync)
    write_atomic(tmp_path / "out.png", b"image")
    (data, renamed_yet), (folder, renamed) = synced
    assert data.startswith(str(tmp_path / ".out.png.")) and not renamed_yet
    assert folder == str(tmp_path) and renamed


def test_write_atomic_needs_no_fchmod_as_on_windows_before_python_3_13(tmp_path, monkeypatch):
    """os.fchmod came to Windows in Python 3.13. Before it, every image save there raised a
    bare AttributeError after the image was paid for, with its temporary file still open
    (so Windows would not delete it)."""
    from flux_canny.images import write_atomic

    monkeypatch.delattr(os, "fchmod")
    write_atomic(tmp_path / "out.png", b"image")
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    assert (tmp_path / "out.png").read_bytes() == b"image"


@pytest.mark.parametrize("refused", [False, True], ids=["flushed", "file-system-refuses"])
def test_where_the_system_has_f_fullfsync_an_image_reaches_the_disk_itself(
    tmp_path, monkeypatch, refused
):
    """macOS's fsync stops at the drive's cache, which a power cut empties: the image (and,
    through the same sync, the ledger's row) could vanish after the ledger said it was
    there. F_FULLFSYNC flushes that cache; a file system that refuses it gets fsync."""
    from flux_canny import _files
    from flux_canny.images import write_atomic

    asked = []

    def fcntl(fd, op):
        asked.append(("F_FULLFSYNC", os.readlink(f"/proc/self/fd/{fd}"), op))
        if refused:
            raise OSError(errno.ENOTSUP, "Operation not supported")

    monkeypatch.setattr(_files, "_FULLFSYNC", 51)  # macOS's number for it
    monkeypatch.setattr(_files.fcntl, "fcntl", fcntl)
    monkeypatch.setattr(os, "fsync", lambda fd: asked.append(("fsync",)))
    write_atomic(tmp_path / "out.png", b"image")
    (_, image, op), (_, folder, _) = [a for a in asked if a[0] == "F_FULLFSYNC"]
    assert image.startswith(str(tmp_path / ".out.png.")) and folder == str(tmp_path)
    assert op == 51 and asked.count(("fsync",)) == (2 if refused else 0)


def test_the_name_check_knows_exactly_what_write_atomic_adds(tmp_path):
    from flux_canny.cli._outputs import name_problem
    from flux_canny.images import TEMP_NAME_EXTRA, write_atomic

    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    longest = tmp_path / ("x" * (limit - TEMP_NAME_EXTRA))
    assert name_problem(longest) is None
    write_atomic(longest, b"fits")
    too_long = tmp_path / ("y" * (limit - TEMP_NAME_EXTRA + 1))
    assert name_problem(too_long) is not None
    with pytest.raises(OSError, match="too long"):
        write_atomic(too_long, b"does not")


def test_a_changed_job_is_reported_then_regenerated_only_when_asked(run, fake, workdir):
    jobs = _write_jobs(workdir, 2)
    assert run("batch jobs.jsonl -o out").code == 0
    before = (workdir / "out" / "job000.jpg").read_bytes()
    jobs[0]["seed"] = 99  # the fake draws from the control image and the seed
    (workdir / "jobs.jsonl").write_text("\n".join(json.dumps(j) for j in jobs) + "\n")
    ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 1
    first, second = ran.json_lines()
    assert first["status"] == "changed" and "--regenerate-changed" in first["error"]
    assert second["status"] == "skipped"
    assert sum(fake.tasks_created.values()) == 2  # nothing paid for the change yet
    ran = run("batch jobs.jsonl -o out --json --regenerate-changed")
    assert ran.code == 0, ran.err
    assert [s["status"] for s in ran.json_lines()] == ["ok", "skipped"]
    assert sum(fake.tasks_created.values()) == 3
    assert (workdir / "out" / "job000.jpg").read_bytes() != before  # the new image replaced it
    newest = max(fake.tasks.values(), key=lambda t: t.created_at)
    assert newest.body["seed"] == 99


def test_too_little_free_space_is_refused_before_paying(run, fake, workdir, monkeypatch):
    from flux_canny.cli import _outputs

    _write_jobs(workdir, 3)
    monkeypatch.setattr(_outputs.shutil, "disk_usage", lambda path: shutil_usage(free=1000))
    ran = run("batch jobs.jsonl -o out")
    assert ran.code == _exit.EXIT_BAD_INPUT and "MB free" in ran.err
    assert "nothing was submitted" in ran.err and not fake.records


def test_a_ledger_on_a_network_file_system_is_refused_before_paying(
    run, fake, workdir, monkeypatch
):
    from flux_canny import _filesystems

    _write_jobs(workdir, 3)
    info = workdir / "mountinfo"
    info.write_text(
        "22 1 252:1 / / rw shared:1 - ext4 /dev/vda rw\n"
        f"36 22 0:52 / {workdir / 'state'} rw shared:7 - nfs srv:/state rw\n"
    )
    monkeypatch.setattr(_filesystems, "_MOUNTINFO", str(info))
    for command in ("batch jobs.jsonl -o out", GEN):
        ran = run(command)
        assert ran.code == _exit.EXIT_BAD_INPUT, ran.err
        assert "on nfs, a network file system" in " ".join(ran.err.split())
        assert "Traceback" not in ran.err and not fake.records


def shutil_usage(*, free):
    import shutil

    return shutil._ntuple_diskusage(10**9, 10**9 - free, free)


def test_max_cost_leaves_the_rest_unsubmitted_and_says_what_was_spent(run, fake, workdir):
    fake.cost_per_task = 5.0
    _write_jobs(workdir, 5)
    ran = run("batch jobs.jsonl -o out --json --max-cost 12 --concurrency 1")
    assert ran.code == 1
    statuses = [s["status"] for s in ran.json_lines()]
    assert statuses.count("ok") == 2 and statuses.count("over budget") == 3
    assert "spent 10 credits on 2 new task(s); 5 each (--max-cost 12)" in ran.err
    assert "the 3 job(s) left would cost about 15 more" in ran.err
    assert sum(fake.tasks_created.values()) == 2
    again = run("batch jobs.jsonl -o out --json --max-cost 100")
    assert again.code == 0, again.err
    assert sum(fake.tasks_created.values()) == 5  # the unsent ones, once each


def test_each_control_image_is_checked_once_per_job(run, fake, workdir, monkeypatch):
    from flux_canny import images

    _write_jobs(workdir, 6)
    checks = []
    inspect = images.inspect_image

    def counting(data):
        checks.append(len(data))
        return inspect(data)

    monkeypatch.setattr(images, "inspect_image", counting)
    from flux_canny.cli import _batch  # it once imported the check under its own name

    monkeypatch.setattr(_batch, "inspect_image", counting, raising=False)
    ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 0, ran.err
    assert len(checks) == 6  # the up-front check only; the submit reads, not re-checks


def test_an_image_edited_after_its_check_is_checked_again(tmp_path, png):
    from flux_canny.errors import ImageInputError
    from flux_canny.images import base64_control_image, check_image_file

    path = tmp_path / "edges.png"
    path.write_bytes(png)
    checked, _ = check_image_file(path)
    assert base64_control_image(checked)  # unchanged: sent as checked
    path.write_bytes(png[:-20])  # cut short after the check
    with pytest.raises(ImageInputError, match="truncated or corrupt"):
        base64_control_image(checked)


def test_a_task_seen_ready_frees_its_slot_before_its_image_is_saved(
    run, fake, workdir, monkeypatch
):
    """BFL counts a task as active until it is Ready: with --concurrency 1 the next job's
    submit goes out while the previous job's image is still being written."""
    import time

    from flux_canny import _offload
    from flux_canny._spec import CANNY_PATH
    from flux_canny.cli import _batch_runner

    _write_jobs(workdir, 2)
    submits = ("POST", CANNY_PATH)
    during_first_save = []
    save = _batch_runner.save_paid

    def slow_save(image, target, ledger, **options):
        if target.stem == "job000":  # hold the first save until the second submit is seen
            deadline = time.monotonic() + 60  # a bound for a hang, never reached by a pass
            while fake.requests[submits] < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            during_first_save.append(fake.requests[submits])
        return save(image, target, ledger, **options)

    monkeypatch.setattr(_batch_runner, "save_paid", slow_save)
    monkeypatch.setattr(_offload, "off_loop", real_off_loop)  # the save on its thread
    ran = run("batch jobs.jsonl -o out --concurrency 1 --json")
    assert ran.code == 0, ran.err
    assert during_first_save == [2]
    images = [p.stem for p in (workdir / "out").iterdir() if not p.name.startswith(".")]
    assert sorted(images) == ["job000", "job001"]


def test_a_prompt_holding_a_unicode_line_separator_is_one_job(run, fake, workdir):
    """JSON strings may hold U+2028; the jobs file is split at newlines only."""
    _write_jobs(workdir, 1, prompt="a castle\u2028in the fog")
    ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 0, ran.err
    (record,) = [json.loads(line) for line in ran.out.splitlines()]
    assert record["status"] == "ok" and record["line"] == 1


def test_the_spool_gives_back_each_checked_job_as_it_was_and_outcomes_in_line_order(tmp_path):
    from flux_canny.cli._batch_jobs import Job, Outcome
    from flux_canny.cli._batch_spool import Spool
    from flux_canny.images import check_image_file

    image = tmp_path / "c.png"
    image.write_bytes(make_image("PNG", (96, 64)))
    checked, _ = check_image_file(image)
    fields = {"prompt": "ein Schloß, 城", "finetune_id": "f", "guidance": 7.0, "steps": 30}
    jobs = [
        Job(
            line=n,
            name=f"j{n}",
            fields={**fields, "seed": n},
            output=tmp_path / f"j{n}.png",
            request_hash=f"h{n}",
            expected_bytes=n * 10,
            images={"control_image": checked} if n % 2 else {},
        )
        if n % 5
        else Job(  # another endpoint's, with two images
            line=n,
            name=f"j{n}",
            fields={"prompt": "two", "seed": n},
            output=tmp_path / f"j{n}.png",
            request_hash=f"h{n}",
            images={"input_image": checked, "input_image_2": checked},
            endpoint="flux-2-pro",
        )
        for n in range(1, 600)
    ]
    spool = Spool()
    for job in jobs:
        assert spool.add_job(job) is None
    assert spool.add_job(Job(line=900, name="j7", fields={}, output=tmp_path)) == 7
    assert list(spool.jobs()) == jobs  # paged, in line order, every field and image fact
    for job in reversed(jobs):  # finishing out of order
        spool.add(Outcome(job, "ok" if job.line % 3 else "failed", f"t{job.line}", job.output))
    rows = list(spool.rows())
    assert [r[0] for r in rows] == list(range(1, 600)) and rows[0][3] == "t1"
    assert rows[4][6] == "flux-2-pro" and rows[0][6] == "flux-pro-1.0-canny-finetuned"
    assert [r[0] for r in spool.rows(problems_only=True)] == list(range(3, 600, 3))
    assert spool.counts == {"ok": 400, "failed": 199} and not spool.all_settled()
    spool.close()


def test_jobs_sharing_one_control_image_are_advised_on_its_size_once(run, fake, workdir, caplog):
    lines = [
        {
            "name": f"p{i}",
            "control_image": "control.png",
            "prompt": f"castle {i}",
            "finetune_id": "my-finetune",
        }
        for i in range(5)
    ]
    (workdir / "jobs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 0, ran.err
    advice = [r for r in caplog.records if "BFL documents at most" in r.getMessage()]
    assert len(advice) == 1  # control.png is 96x64: under BFL's documented minimum
