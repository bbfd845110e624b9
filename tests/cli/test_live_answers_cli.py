"""Each live-API answer ends the CLI in its documented exit status, with one line that
names the task once there is one."""

from __future__ import annotations

import httpx
import pytest
from flux_canny.cli import _exit
from flux_canny.fake import VirtualClock

from .conftest import GEN

POLL_BODY = {"id": "t1", "polling_url": "https://api.us1.bfl.ai/v1/get_result?id=t1"}


def _serve(answers):
    """A transport answering each path from `answers` (a response, or a list in turn)."""

    def handle(request: httpx.Request) -> httpx.Response:
        answer = answers[request.url.path]
        if isinstance(answer, list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer

    return httpx.MockTransport(handle)


CASES = [
    (
        {
            "/v1/flux-pro-1.0-canny-finetuned": httpx.Response(
                402, json={"detail": "Insufficient credits"}
            )
        },
        _exit.EXIT_REJECTED,
        "out of credits",
        None,
    ),
    (
        {
            "/v1/flux-pro-1.0-canny-finetuned": httpx.Response(
                422, json={"detail": "Invalid API key format"}
            )
        },
        _exit.EXIT_REJECTED,
        "Invalid API key format",
        None,
    ),
    (
        {"/v1/flux-pro-1.0-canny-finetuned": httpx.Response(502, json={"detail": "Bad gateway"})},
        _exit.EXIT_ERROR,
        "may exist and be billed",
        None,
    ),
    (
        {
            "/v1/flux-pro-1.0-canny-finetuned": httpx.Response(200, json=POLL_BODY),
            "/v1/get_result": httpx.Response(
                503, json={"id": "t1", "status": "Error", "details": {"error": "GPU lost"}}
            ),
        },
        _exit.EXIT_TASK_FAILED,
        "GPU lost",
        "t1",
    ),
    (
        {
            "/v1/flux-pro-1.0-canny-finetuned": httpx.Response(200, json=POLL_BODY),
            "/v1/get_result": httpx.Response(404, json={"id": "t1", "status": "Task not found"}),
        },
        _exit.EXIT_TASK_FAILED,
        "does not know this task",
        "t1",
    ),
    (
        {
            "/v1/flux-pro-1.0-canny-finetuned": httpx.Response(200, json=POLL_BODY),
            "/v1/get_result": httpx.Response(302, headers={"location": "https://evil.example/"}),
        },
        _exit.EXIT_REJECTED,
        "not followed",
        "t1",
    ),
]


@pytest.mark.parametrize(("answers", "code", "words", "task_id"), CASES)
def test_each_live_answer_has_its_exit_status_and_one_line(
    run, workdir, wire_cli, answers, code, words, task_id
):
    wire_cli(transport=_serve(answers), clock=VirtualClock())  # polls and grace: no real waits
    ran = run(f"{GEN} --timeout 30")
    lines = ran.err.strip().splitlines()
    assert ran.code == code, ran.err
    assert lines[-1].startswith("flux-canny: error:") and words in lines[-1]
    assert "Traceback" not in ran.err
    if task_id:
        assert task_id in lines[-1]


def test_result_never_moves_the_key_to_a_recorded_base_url(run, fake, workdir):
    # submitted to another API root; `result` later runs with the default one
    task_id = run(f"{GEN} --no-wait --json --base-url https://api.eu1.bfl.ai").json()["task_id"]
    before = len(fake.records)
    ran = run(f"result {task_id}")
    assert ran.code == _exit.EXIT_BAD_INPUT
    assert "was submitted to https://api.eu1.bfl.ai" in ran.err and "--base-url" in ran.err
    assert len(fake.records) == before  # no request at all, to either host
    resumed = run(f"result {task_id} --base-url https://api.eu1.bfl.ai")
    assert resumed.code == 0, resumed.err


def test_a_task_id_from_the_server_never_chooses_a_path_outside_the_folder(run, fake, workdir):
    fake.drift("/v1/flux-pro-1.0-canny-finetuned", replace={"id": "../../escape"})
    fake.drift("/v1/get_result", replace={"id": "../../escape"})
    ran = run(GEN)
    assert ran.code == 0, ran.err
    written = ran.out.strip()
    assert "/" not in written and (workdir / written).exists()
    assert not (workdir.parent.parent / "escape.jpg").exists()
    assert not list(workdir.parent.parent.glob("*escape*"))
