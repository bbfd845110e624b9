"""`batch` over several endpoints in one jobs file (issue 30)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter

import pytest
from flux_canny._operations import CANNY
from flux_canny.cli._batch_jobs import check_jobs
from flux_canny.validation import default_validator

from ..conftest import make_image

CANNY_JOB = {"control_image": "pics/a.png", "prompt": "a castle", "finetune_id": "my-finetune"}
FLUX2_JOB = {
    "endpoint": "flux-2-pro",
    "prompt": "the two",
    "input_image": "pics/a.png",
    "input_image_2": "pics/b.png",
}
FILL_JOB = {
    "endpoint": "flux-pro-1.0-fill",
    "prompt": "ivy",
    "image": "pics/a.png",
    "mask": "pics/mask.png",
}
KONTEXT_JOB = {"endpoint": "flux-kontext-pro", "prompt": "at night", "input_image": "pics/b.png"}
ULTRA_JOB = {
    "endpoint": "flux-pro-1.1-ultra-finetuned",
    "prompt": "u",
    "finetune_id": "my-finetune",
}
GOOD = [CANNY_JOB, FLUX2_JOB, FILL_JOB, KONTEXT_JOB, ULTRA_JOB]
#: Kontext has no steps: the line names the endpoints that take them
BAD = {**KONTEXT_JOB, "steps": 30}


@pytest.fixture
def jobs(workdir):
    """A jobs file in a folder of its own, its images beside it (paths relative to it)."""
    folder = workdir / "project"
    (folder / "pics").mkdir(parents=True)
    (folder / "pics" / "a.png").write_bytes(make_image("PNG", (64, 48)))
    (folder / "pics" / "b.png").write_bytes(make_image("PNG", (48, 64)))
    (folder / "pics" / "mask.png").write_bytes(make_image("PNG", (64, 40)))

    def write(*lines):
        path = folder / "jobs.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return path

    return write


def _b64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_a_mixed_file_with_a_bad_line_submits_nothing(run, fake, jobs):
    jobs(*GOOD, BAD)
    ran = run("batch project/jobs.jsonl -o out")
    assert ran.code == 2 and ran.out == ""
    assert "jobs.jsonl:6: unknown field 'steps' for flux-kontext-pro (a field of" in ran.err
    assert "nothing was submitted" in ran.err.splitlines()[-1]
    assert not fake.tasks_created


def test_skip_invalid_runs_each_endpoints_jobs_and_a_rerun_pays_nothing(run, fake, jobs, workdir):
    jobs(*GOOD, BAD)
    ran = run("batch project/jobs.jsonl -o out --skip-invalid --json -q")
    assert ran.code == 1, ran.err  # the bad line is reported, the others ran
    records = ran.json_lines()
    assert [(r["line"], r["endpoint"], r["status"]) for r in records] == [
        (1, CANNY, "ok"),
        (2, "flux-2-pro", "ok"),
        (3, "flux-pro-1.0-fill", "ok"),
        (4, "flux-kontext-pro", "ok"),
        (5, "flux-pro-1.1-ultra-finetuned", "ok"),
        (6, None, "invalid"),
    ]
    assert all((workdir / r["path"]).is_file() for r in records[:5])
    sent = Counter(task.operation for task in fake.tasks.values())
    assert sent == Counter(job.get("endpoint", CANNY) for job in GOOD)
    paid = sum(fake.tasks_created.values())
    again = run("batch project/jobs.jsonl -o out --skip-invalid --json -q")
    assert [r["status"] for r in again.json_lines()] == ["skipped"] * 5 + ["invalid"]
    assert sum(fake.tasks_created.values()) == paid


def test_each_image_field_is_read_relative_to_the_jobs_file(run, fake, jobs, workdir):
    jobs(FLUX2_JOB, FILL_JOB)
    # a task the fake keeps running: its body is still whole when looked at
    fake.task_duration = 10_000.0
    ran = run("batch project/jobs.jsonl -o out --timeout 1 -q --json")
    assert ran.code == 1  # both timed out waiting, by design
    pics = workdir / "project" / "pics"
    bodies = {task.operation: task.body for task in fake.tasks.values()}
    assert bodies["flux-2-pro"]["input_image"] == _b64(pics / "a.png")
    assert bodies["flux-2-pro"]["input_image_2"] == _b64(pics / "b.png")
    assert bodies["flux-pro-1.0-fill"]["image"] == _b64(pics / "a.png")
    assert bodies["flux-pro-1.0-fill"]["mask"] == _b64(pics / "mask.png")


def test_the_24_task_cap_is_shared_by_every_endpoint(run, fake, jobs):
    """BFL counts active tasks per key: three endpoints with four slots each would be
    refused with 429s; the batch never has more than --concurrency tasks in all."""
    fake.max_active_tasks = 3
    lines = [{**job, "seed": n} for n in range(3) for job in (CANNY_JOB, FLUX2_JOB, FILL_JOB)]
    jobs(*lines)
    ran = run("batch project/jobs.jsonl -o out --concurrency 3 -q")
    assert ran.code == 0, ran.err
    assert sum(fake.tasks_created.values()) == 9
    assert not [r for r in fake.records if r.status == 429]


def test_max_cost_counts_every_endpoints_tasks(run, fake, jobs):
    jobs(*GOOD)
    ran = run("batch project/jobs.jsonl -o out --max-cost 10 --json -q")
    assert ran.code == 1
    statuses = Counter(r["status"] for r in ran.json_lines())
    assert statuses == {"ok": 2, "over budget": 3}  # 5 credits a task in the fake
    assert sum(fake.tasks_created.values()) == 2


def test_max_cost_is_not_passed_by_the_first_task_of_another_endpoint(run, fake, jobs):
    """12 credits, five endpoints at 5: two tasks, and the third endpoint's first is not
    sent (it would make 15); its price unknown, it once went out as if free."""
    jobs(*GOOD)
    ran = run("batch project/jobs.jsonl -o out --max-cost 12 --json -q")
    assert ran.code == 1
    statuses = Counter(r["status"] for r in ran.json_lines())
    assert statuses == {"ok": 2, "over budget": 3}
    assert sum(fake.tasks_created.values()) == 2


def _hash_before_endpoints(line: dict, image: bytes) -> str:
    """The request hash of a canny job as the versions before endpoints computed it."""
    body = default_validator().normalise({**line, "control_image": ""})
    fields = {k: v for k, v in body.items() if k != "control_image"}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode())
    digest.update(hashlib.sha256(image).digest())
    return digest.hexdigest()


def test_a_canny_jobs_hash_and_name_are_those_of_earlier_versions(jobs, workdir):
    """A rerun of a canny jobs file an earlier version ran finds its tasks by these: it
    resumes them, it never pays again. Naming the endpoint changes nothing."""
    line = {k: v for k, v in CANNY_JOB.items() if k != "control_image"}
    path = jobs(CANNY_JOB, {**CANNY_JOB, "endpoint": CANNY, "seed": 7}, FLUX2_JOB)
    kept = []
    check = check_jobs(path, workdir / "out", lambda job: kept.append(job))
    assert check.jobs == 3 and not check.problems
    image = (workdir / "project" / "pics" / "a.png").read_bytes()
    before = _hash_before_endpoints(line, image)
    assert kept[0].request_hash == before
    assert kept[0].name == f"job-{hashlib.sha256(image).hexdigest()[:10]}-{before[:10]}"
    assert kept[1].request_hash == _hash_before_endpoints({**line, "seed": 7}, image)
    assert kept[2].endpoint == "flux-2-pro" and kept[2].request_hash not in {before}


def test_the_same_fields_on_two_endpoints_are_two_jobs(jobs, workdir):
    """FLUX.2 [pro] and [max] share a schema: the endpoint is part of the request."""
    path = jobs(FLUX2_JOB, {**FLUX2_JOB, "endpoint": "flux-2-max"})
    kept = []
    check = check_jobs(path, workdir / "out", lambda job: kept.append(job))
    assert check.jobs == 2 and not check.problems
    assert kept[0].request_hash != kept[1].request_hash and kept[0].name != kept[1].name


def test_max_cost_counts_each_endpoint_at_its_own_price(run, fake, jobs):
    """A FLUX.2 task at 2 credits is not reserved at the canny finetune's 5: the budget
    that 5-credit reservations would stop at three tasks runs more."""
    handle = fake.handle

    def priced(request):
        fake.cost_per_task = 2.0 if request.url.path == "/v1/flux-2-pro" else 5.0
        return handle(request)

    fake.handle = priced
    jobs(CANNY_JOB, *({**FLUX2_JOB, "seed": n} for n in range(5)))
    ran = run("batch project/jobs.jsonl -o out --max-cost 15 --json -q")
    records = ran.json_lines()
    ok = [r["endpoint"] for r in records if r["status"] == "ok"]
    assert ok.count(CANNY) == 1 and ok.count("flux-2-pro") == 5, ran.err  # 5 + 5 x 2
    assert ran.code == 0 and "spent 15 credits on 6 new task(s)" in ran.err


def test_the_output_folders_record_names_the_server_each_job_went_to(run, fake, jobs, workdir):
    """With no base URL each endpoint goes to its spec server; the record that travels
    with the output folder says that one, as the ledger does."""
    jobs(CANNY_JOB, FLUX2_JOB)
    assert run("batch project/jobs.jsonl -o out -q").code == 0
    lines = (workdir / "out" / ".flux-canny-tasks.jsonl").read_text().splitlines()
    servers = {json.loads(line)["base_url"] for line in lines if '"sending"' in line}
    assert servers == {"https://api.us1.bfl.ai", "https://api.bfl.ai"}
    hosts = {r.host for r in fake.records if r.method == "POST"}
    assert hosts == {"api.us1.bfl.ai", "api.bfl.ai"}
