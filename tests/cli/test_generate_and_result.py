"""`generate`, `result` and `tasks` against the fake: files, JSON, journal and every exit path."""

from __future__ import annotations

import io
import shlex
from pathlib import Path

import pytest
from flux_canny.cli import _exit
from flux_canny.cli._task_run import TaskRun
from flux_canny.ledger import Ledger
from PIL import Image

from .conftest import GEN, disk_full_in


def _decoded(path):
    with Image.open(path) as image:
        image.load()
        return image.format, image.size


def test_generate_writes_the_image_and_prints_its_path(run, fake, workdir):
    ran = run(f"{GEN} -o castle.png --seed 5")
    assert ran.code == 0, ran.err
    assert ran.out.strip() == "castle.png"
    # the extension chose the format; the image is real and the request carried it
    assert _decoded(workdir / "castle.png")[0] == "PNG"
    (task,) = fake.tasks.values()
    assert task.body["output_format"] == "png" and task.seed == 5
    assert "submitted task" in ran.err and "Ready" in ran.err
    assert not list(workdir.glob("*.part")) and not list(workdir.glob(".castle*"))


def test_json_output_parses_back_and_matches_the_file(run, fake, workdir):
    ran = run(f"{GEN} --seed 42 --output-format jpeg --json")
    assert ran.code == 0, ran.err
    doc = ran.json()
    assert doc["seed"] == 42 and doc["format"] == "jpeg"
    assert doc["task_id"] in fake.tasks and doc["polling_url"].endswith(doc["task_id"])
    assert doc["path"] == f"flux-{doc['task_id']}.jpg"
    assert _decoded(workdir / doc["path"]) == ("JPEG", (doc["width"], doc["height"]))
    assert doc["bytes"] == (workdir / doc["path"]).stat().st_size
    timings = doc["timings"]
    assert timings["wait_s"] >= 0 and timings["total_s"] >= timings["submit_s"] >= 0
    assert doc["polls"] >= 1


def test_no_wait_then_result_downloads_the_same_task(run, fake, workdir):
    ran = run(f"{GEN} --no-wait --json -o later.png")
    assert ran.code == 0, ran.err
    submitted = ran.json()
    assert not (workdir / "later.png").exists()
    # the recorded polling URL and output are used; nothing is submitted again
    resumed = run(f"result {submitted['task_id']} --json")
    assert resumed.code == 0, resumed.err
    assert resumed.json()["path"] == str(workdir / "later.png")
    assert _decoded(workdir / "later.png")[0] == "PNG"
    assert sum(fake.tasks_created.values()) == 1


def test_tasks_lists_what_was_submitted_newest_first(run, fake):
    first = run(f"{GEN} --json --prompt first").json()
    second = run(f"{GEN} --json --prompt second --no-wait").json()
    listed = run("tasks --json").json_lines()
    assert [e["task_id"] for e in listed] == [second["task_id"], first["task_id"]]
    assert [e["state"] for e in listed] == ["submitted", "downloaded"]
    assert listed[1]["prompt"] == "first" and listed[1]["output"].endswith(first["path"])
    table = run("tasks")
    assert table.code == 0 and first["task_id"][:8] in table.out


def test_the_ledger_never_holds_the_key_and_is_private(run, fake, workdir):
    run(f"{GEN} --json --prompt 'a castle of glass'")
    state = workdir / "state"
    data = b"".join(p.read_bytes() for p in state.rglob("*") if p.is_file())
    assert b"test-key" not in data and b"a castle of glass" in data
    assert (state / "ledger.sqlite3").stat().st_mode & 0o077 == 0


def test_an_existing_output_is_never_overwritten_without_force(run, fake, workdir):
    target = workdir / "keep.png"
    target.write_bytes(b"precious")
    ran = run(f"{GEN} -o keep.png")
    assert ran.code == _exit.EXIT_BAD_INPUT
    assert ran.err.strip() == "flux-canny: error: keep.png exists; pass --force to overwrite it"
    assert target.read_bytes() == b"precious" and not fake.records  # nothing was paid for
    assert run(f"{GEN} -o keep.png --force").code == 0
    assert _decoded(target)[0] == "PNG"


def test_stdin_control_image(run, fake, workdir, monkeypatch):
    data = (workdir / "control.png").read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    ran = run("generate - --prompt p --finetune-id my-finetune -o from-stdin.jpg")
    assert ran.code == 0, ran.err
    assert _decoded(workdir / "from-stdin.jpg")[0] == "JPEG"


BAD_INPUT = [
    ("--steps 99", "steps: Input should be less than or equal to 50"),
    ("--guidance 0.5", "guidance: Input should be greater than or equal to 1"),
    ("--webhook-url not-a-url", "webhook_url: Input should be a valid URL"),
    ("--output-format gif", "Invalid value for '--output-format': 'gif' is not one of"),
    ("--steps many", "'many' is not a valid integer"),
    ("--stepz 20", "No such option '--stepz'"),
    ("-o out.png --output-format jpeg", "out.png has a png extension but --output-format is jpeg"),
    ("-o control.png/x.png", "control.png is not a directory"),
    ("-o new/../control.png/x.png", "control.png is not a directory"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_INPUT)
def test_bad_input_is_one_line_exit_2_and_sends_nothing(run, fake, extra, message):
    ran = run(f"{GEN} {extra}")
    assert ran.code == _exit.EXIT_BAD_INPUT, ran.err
    assert message in ran.err
    assert len(ran.err.strip().splitlines()) == 1 and "Traceback" not in ran.err
    assert not fake.records


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "control image file not found"),
        (lambda d: (d / "missing.png").write_text("hello"), "not a PNG, JPEG or WebP image"),
        (lambda d: (d / "missing.png").write_bytes(b""), "empty"),
    ],
)
def test_bad_control_images(run, fake, workdir, setup, message):
    setup(workdir)
    ran = run("generate missing.png --prompt p --finetune-id my-finetune")
    assert ran.code == _exit.EXIT_BAD_INPUT and message in ran.err
    assert len(ran.err.strip().splitlines()) == 1 and not fake.records


def test_a_missing_key_names_the_variable(run, fake, monkeypatch):
    monkeypatch.delenv("BFL_API_KEY")
    ran = run(GEN)
    assert ran.code == _exit.EXIT_BAD_INPUT
    assert ran.err.strip() == "flux-canny: error: no API key: set BFL_API_KEY or pass --api-key"
    assert not fake.records


def test_a_refused_key_is_an_api_rejection(run, fake):
    ran = run(f"{GEN} --api-key wrong-key")
    assert ran.code == _exit.EXIT_REJECTED
    assert "403" in ran.err or "401" in ran.err
    assert len(ran.err.strip().splitlines()) == 1 and "wrong-key" not in ran.err


def test_a_server_error_on_submit_is_uncertain_and_not_retried(run, fake):
    fake.fail_next(1, 500, path="/v1/flux-pro-1.0-canny-finetuned")
    ran = run(GEN)
    assert ran.code == _exit.EXIT_ERROR and "500" in ran.err and "may exist" in ran.err
    assert fake.requests[("POST", "/v1/flux-pro-1.0-canny-finetuned")] == 1
    (entry,) = run("tasks --json --status uncertain").json_lines()
    assert entry["task_id"] is None and "500" in entry["error"]


@pytest.mark.parametrize(
    ("status", "word"),
    [("Content Moderated", "moderated"), ("Failed", "failed"), ("Error", "failed")],
)
def test_moderated_or_failed_tasks_exit_4_and_are_journaled(run, fake, status, word):
    fake.queue_outcomes(status)
    ran = run(GEN)
    assert ran.code == _exit.EXIT_TASK_FAILED, ran.err
    error_line = ran.err.strip().splitlines()[-1]
    assert error_line.startswith("flux-canny: error:") and "Traceback" not in ran.err
    (entry,) = run("tasks --json").json_lines()
    assert entry["state"] == word and entry["error"]


def test_timeout_exits_5_with_the_resume_command_which_then_works(run, fake, workdir):
    fake.task_duration = 120.0
    ran = run(f"{GEN} --timeout 10 -o slow.png")
    assert ran.code == _exit.EXIT_TIMEOUT, ran.err
    line = ran.err.strip().splitlines()[-1]
    command = line.split("resume with: ", 1)[1]
    assert command.startswith("flux-canny result ") and command.endswith("-o slow.png")
    resumed = run(shlex.split(command)[1:])
    assert resumed.code == 0, resumed.err
    assert _decoded(workdir / "slow.png")[0] == "PNG"
    assert sum(fake.tasks_created.values()) == 1


def test_ctrl_c_while_waiting_prints_the_exact_resume_command(run, fake, workdir, monkeypatch):
    polls = []

    def interrupted(self, result):
        polls.append(result)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(TaskRun, "on_update", interrupted)
        ran = run(f"{GEN} -o castle.png")
    assert ran.code == _exit.EXIT_INTERRUPTED and polls
    (task_id,) = fake.tasks
    last = ran.err.strip().splitlines()[-1]
    assert f"interrupted; task {task_id} is still running" in last
    command = shlex.split(last.split("Resume with: ", 1)[1])
    assert command[:3] == ["flux-canny", "result", task_id] and command[-2:] == ["-o", "castle.png"]
    assert run("tasks --json").json_lines()[0]["state"] == "submitted"
    resumed = run(command[1:])
    assert resumed.code == 0, resumed.err
    assert resumed.out.strip() == "castle.png"
    assert _decoded(workdir / "castle.png")[0] == "PNG"
    assert sum(fake.tasks_created.values()) == 1
    assert run("tasks --json").json_lines()[0]["state"] == "downloaded"


def test_result_of_an_unknown_task_exits_4(run, fake):
    ran = run("result 00000000-dead-beef-0000-000000000000")
    assert ran.code == _exit.EXIT_TASK_FAILED and "not found" in ran.err.lower()


def test_debug_shows_the_traceback(run, fake):
    fake.queue_outcomes("Failed")
    ran = run(f"{GEN} --debug")
    assert ran.code == _exit.EXIT_TASK_FAILED and "Traceback" in ran.err


def test_an_unreachable_api_exits_1(run, fake):
    fake.fail_next(50, "connect")
    ran = run(GEN)
    assert ran.code == _exit.EXIT_ERROR
    assert len(ran.err.strip().splitlines()) == 1 and "Traceback" not in ran.err


def test_an_unusable_ledger_is_bad_input_and_nothing_is_paid_for(run, fake, workdir, monkeypatch):
    (workdir / "blocked").write_text("")
    monkeypatch.setenv("FLUX_CANNY_STATE_DIR", str(workdir / "blocked" / "state"))
    ran = run(f"{GEN} -o castle.png")
    assert ran.code == _exit.EXIT_BAD_INPUT
    assert "FLUX_CANNY_STATE_DIR" in ran.err and len(ran.err.strip().splitlines()) == 1
    assert not fake.records and not (workdir / "castle.png").exists()


def test_tasks_prune_forgets_finished_tasks_only(run, fake):
    done = run(f"{GEN} --json").json()["task_id"]
    running = run(f"{GEN} --json --no-wait").json()["task_id"]
    pruned = run("tasks --prune 0")
    assert pruned.code == 0 and "forgot 1 finished task" in pruned.err
    left = [e["task_id"] for e in run("tasks --json").json_lines()]
    assert left == [running] and done not in left


@pytest.mark.parametrize("task_id", ["", "a b", "t1\tx"])
def test_result_of_no_task_id_is_bad_input_and_sends_nothing(run, fake, task_id):
    ran = run(["result", task_id])
    assert ran.code == _exit.EXIT_BAD_INPUT and "a task is a Task or the id" in ran.err
    assert not fake.records


def test_result_finishes_a_kept_image_without_a_request(run, fake, workdir, monkeypatch):
    with disk_full_in(workdir):
        ran = run(f"{GEN} -o castle.png")
    assert ran.code == _exit.EXIT_ERROR and "kept at" in ran.err and "No space left" in ran.err
    (entry,) = run("tasks --json").json_lines()
    assert entry["state"] == "kept" and Path(entry["kept_at"]).exists()
    requests = len(fake.records)
    ran = run(f"result {entry['task_id']}")
    assert ran.code == 0, ran.err
    assert ran.out.strip().endswith("castle.png") and _decoded(workdir / "castle.png")[0] == "PNG"
    assert len(fake.records) == requests  # no poll, no download
    (entry,) = run("tasks --json").json_lines()
    assert entry["state"] == "downloaded"
    assert entry["kept_at"] is None or not Path(entry["kept_at"]).exists()


def test_escape_sequences_from_the_server_never_reach_the_terminal(run, fake):
    fake.queue_outcomes("Content Moderated")
    fake.drift(
        "/v1/get_result", replace={"details": {"Moderation Reasons": ["\x1b[2J\x1b]0;pwned\x07"]}}
    )
    ran = run(GEN)
    assert ran.code == _exit.EXIT_TASK_FAILED
    assert "Moderation Reasons" in ran.err and "\x1b" not in ran.err and "\x07" not in ran.err
    fake.drift_off()
    fake.drift("/v1/flux-pro-1.0-canny-finetuned", replace={"id": "t\x1b[31mred"})
    ran = run(f"{GEN} --no-wait")
    assert ran.code == 0 and ran.out.strip() == "t?[31mred" and "\x1b" not in ran.err


def test_a_resumed_wait_is_as_frugal_as_a_fresh_one(run, fake, workdir):
    fake.task_duration = 20.0
    fresh = run(f"{GEN} --json").json()["polls"]
    task_id = run(f"{GEN} --no-wait --json").json()["task_id"]
    fake.clock.advance(10)  # half done when we come back for it, ten seconds later:
    with Ledger() as ledger:  # the virtual clock moved; the ledger's wall clock must too
        submitted = ledger.find(task_id)
        ledger.task_state(task_id, None, created_at=submitted.created_at - 10)
    before = fake.requests[("GET", "/v1/get_result")]
    assert run(f"result {task_id}").code == 0
    resumed = fake.requests[("GET", "/v1/get_result")] - before
    assert resumed <= fresh, (resumed, fresh)  # was 15-24 polls at 0.05 s


def test_a_task_the_ledger_does_not_know_is_polled_without_trusting_progress(fake, png):
    fake.task_duration = 20.0
    with fake.client() as flux:
        task = flux.submit(control_image=png, prompt="p", finetune_id="my-finetune")
    fake.clock.advance(10)
    before = fake.requests[("GET", "/v1/get_result")]
    with fake.client() as other:  # no ledger: the task's age is unknown here
        other.resume(task.id)
    polls = fake.requests[("GET", "/v1/get_result")] - before
    assert polls <= 16  # backing off to 0.9 s over the 10 s left, not 0.05 s polls
