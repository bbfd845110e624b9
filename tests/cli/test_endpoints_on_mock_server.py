"""Every command for a sample of endpoints against `flux-canny mock-server` (issue 30):
the canny finetune, FLUX.2 with two input images, Fill with image and mask, Kontext and
a finetuned one. One mock-server for the module, its tasks short; each error is one line
with its documented exit status."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from flux_canny._operations import CANNY

from .._mock_server import mock_server_process
from ..conftest import make_image

#: (endpoint, the generate flags after --endpoint NAME, what its --help must list)
SAMPLE = [
    (CANNY, "control.png --prompt x --finetune-id my-finetune", "--canny-low-threshold"),
    ("flux-2-pro", "--prompt x --input-image a.png --input-image-2 b.png", "--input-image-8"),
    ("flux-pro-1.0-fill", "--prompt x --image a.png --mask mask.png", "--mask IMAGE"),
    ("flux-kontext-max", "--prompt x --input-image a.png", "--input-image-4"),
    ("flux-pro-1.1-ultra-finetuned", "--prompt x --finetune-id my-finetune", "--finetune-strength"),
]
IDS = [endpoint for endpoint, _, _ in SAMPLE]


@pytest.fixture(scope="module")
def mock_server() -> Iterator[str]:
    with mock_server_process("--task-duration", "0.05", "--finetune", "my-finetune") as (base, _):
        yield base


@pytest.fixture
def live(mock_server, workdir, monkeypatch):
    """The working folder, its images, and the commands pointed at the mock server (the
    probe's courtesy pause between requests is for BFL, not for a fake on loopback)."""
    from flux_canny import probe

    monkeypatch.setattr(probe, "PACE", 0.0)
    monkeypatch.setenv("BFL_BASE_URL", mock_server)
    (workdir / "a.png").write_bytes(make_image("PNG", (64, 48)))
    (workdir / "b.png").write_bytes(make_image("PNG", (48, 64)))
    (workdir / "mask.png").write_bytes(make_image("PNG", (64, 40)))
    return workdir


def _error_line(ran, code):
    """The error is one line on stderr, and its exit status the documented one."""
    assert ran.code == code, ran.err
    assert len(ran.err.strip().splitlines()) == 1, ran.err
    return ran.err


@pytest.mark.parametrize(("endpoint", "flags", "listed"), SAMPLE, ids=IDS)
def test_help_generate_tasks_and_result(run, live, endpoint, flags, listed):
    helped = run(f"generate --endpoint {endpoint} --help")
    assert helped.code == 0 and listed in helped.out
    ran = run(f"generate --endpoint {endpoint} {flags} -o out.png -q --json")
    assert ran.code == 0, ran.err
    made = ran.json()
    assert made["path"] == "out.png" and (live / "out.png").stat().st_size == made["bytes"]
    submitted = run(f"generate --endpoint {endpoint} {flags} --no-wait")
    assert submitted.code == 0, submitted.err
    task_id = submitted.out.strip()
    records = {r["task_id"]: r for r in run("tasks --json").json_lines()}
    assert records[made["task_id"]]["endpoint"] == endpoint
    assert records[task_id]["endpoint"] == endpoint
    fetched = run(f"result {task_id} -o later.png -q")
    assert fetched.code == 0, fetched.err
    assert fetched.out.strip() == "later.png" and (live / "later.png").exists()


@pytest.mark.parametrize("endpoint", IDS)
def test_probe_each_endpoint(run, live, endpoint):
    ran = run(f"probe --endpoint {endpoint}")
    assert ran.code == 0, ran.err
    assert ran.out.strip().endswith(", 0 differ")
    assert all(r["state"] != "downloaded" for r in run("tasks --json").json_lines())


def test_a_mixed_batch_with_a_bad_line_then_skip_invalid_then_a_rerun(run, live):
    jobs = [
        {"control_image": "control.png", "prompt": "c", "finetune_id": "my-finetune"},
        {
            "endpoint": "flux-2-pro",
            "prompt": "two",
            "input_image": "a.png",
            "input_image_2": "b.png",
        },
        {"endpoint": "flux-pro-1.0-fill", "prompt": "f", "image": "a.png", "mask": "mask.png"},
        {"endpoint": "flux-kontext-max", "prompt": "k", "input_image": "a.png"},
        {"endpoint": "flux-pro-1.1-ultra-finetuned", "prompt": "u", "finetune_id": "my-finetune"},
        {"endpoint": "flux-2-pro", "prompt": "bad", "mask": "mask.png"},  # Fill's field
    ]
    (live / "jobs.jsonl").write_text("".join(json.dumps(job) + "\n" for job in jobs))
    refused = run("batch jobs.jsonl -o out")
    assert refused.code == 2
    assert "jobs.jsonl:6: unknown field 'mask' for flux-2-pro" in refused.err
    assert "nothing was submitted" in refused.err.strip().splitlines()[-1]
    assert not run("tasks --json").json_lines()
    ran = run("batch jobs.jsonl -o out --skip-invalid --json -q")
    assert ran.code == 1, ran.err
    rows = ran.json_lines()
    assert [(r["endpoint"], r["status"]) for r in rows] == [
        *((job.get("endpoint", CANNY), "ok") for job in jobs[:5]),
        (None, "invalid"),
    ]
    again = run("batch jobs.jsonl -o out --skip-invalid --json -q")
    assert [r["status"] for r in again.json_lines()] == ["skipped"] * 5 + ["invalid"]
    assert len(run("tasks --json").json_lines()) == 5  # the rerun paid for nothing


@pytest.mark.parametrize(
    ("command", "code", "said"),
    [
        ("generate --endpoint flux-2-pro --prompt x --mask mask.png", 2, "not a flag of"),
        ("generate --endpoint flux-2-pro --prompt x --input-image nothing.png", 2, "nothing.png"),
        ("generate --endpoint flux-pro-1.0-fill --prompt x", 2, "Missing option '--image'"),
        ("generate --endpoint flux-kontext-max --prompt x --seed many", 2, "'many'"),
        ("generate --endpoint flux-2-prp --prompt x", 2, "did you mean 'flux-2-pro'?"),
        ("probe --endpoint nope", 2, "no endpoint named 'nope'"),
        ("result 00000000-0000-0000-0000-000000000000 -q", 4, "does not know this task"),
    ],
)
def test_every_error_is_one_line_with_its_exit_status(run, live, command, code, said):
    assert said in _error_line(run(command), code)
