"""Issue 28's breaks of "paid once" in `batch`, each as the user met it: a job is its
content, never its line; absence of evidence (not found, a refused download) is reported,
never paid for; the record travels with the output folder."""

from __future__ import annotations

import json

from flux_canny.ledger import Ledger

from ..conftest import make_image


def _unnamed_jobs(workdir, prompts, image="c.png"):
    (workdir / image).write_bytes(make_image("PNG", (48, 32)))
    return [
        json.dumps({"control_image": image, "prompt": p, "finetune_id": "my-finetune"})
        for p in prompts
    ]


def _paid(fake):
    return sum(fake.tasks_created.values())


def test_a_blank_line_or_a_reorder_never_pays_again_for_unnamed_jobs(run, fake, workdir):
    lines = _unnamed_jobs(workdir, ["a castle", "a tower", "a bridge"])
    (workdir / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    first = run("batch jobs.jsonl -o out --json")
    assert first.code == 0, first.err
    assert _paid(fake) == 3
    # the same jobs, a blank line on top and in another order
    (workdir / "jobs.jsonl").write_text("\n\n" + "\n".join(reversed(lines)) + "\n")
    again = run("batch jobs.jsonl -o out --json")
    assert again.code == 0, again.err
    assert {j["status"] for j in again.json_lines()} == {"skipped"}
    assert _paid(fake) == 3
    names = {j["name"] for j in first.json_lines()}
    assert names == {j["name"] for j in again.json_lines()}


def test_an_edited_unnamed_job_is_changed_and_paid_only_with_regenerate_changed(run, fake, workdir):
    lines = _unnamed_jobs(workdir, ["a castle", "a tower"])
    (workdir / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    assert run("batch jobs.jsonl -o out").code == 0
    edited = _unnamed_jobs(workdir, ["a castle at dusk"])[0]
    (workdir / "jobs.jsonl").write_text(edited + "\n" + lines[1] + "\n")
    ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 1, ran.err
    statuses = {j["status"] for j in ran.json_lines()}
    assert statuses == {"changed", "skipped"}
    changed = next(j for j in ran.json_lines() if j["status"] == "changed")
    assert "--regenerate-changed" in changed["error"]
    assert _paid(fake) == 2
    paid = run("batch jobs.jsonl -o out --json --regenerate-changed")
    assert paid.code == 0, paid.err
    assert _paid(fake) == 3
    assert run("batch jobs.jsonl -o out").code == 0  # and it stays paid once
    assert _paid(fake) == 3


def test_a_new_unnamed_job_of_an_image_already_used_is_a_new_job(run, fake, workdir):
    lines = _unnamed_jobs(workdir, ["a castle"])
    (workdir / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    assert run("batch jobs.jsonl -o out").code == 0
    more = _unnamed_jobs(workdir, ["a castle", "a tower"])
    (workdir / "jobs.jsonl").write_text("\n".join(more) + "\n")
    ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 0, ran.err
    assert sorted(j["status"] for j in ran.json_lines()) == ["ok", "skipped"]
    assert _paid(fake) == 2


def test_two_identical_unnamed_lines_are_one_job(run, fake, workdir):
    (line,) = _unnamed_jobs(workdir, ["a castle"])
    (workdir / "jobs.jsonl").write_text(f"{line}\n{line}\n")
    ran = run("batch jobs.jsonl -o out")
    assert ran.code == 2
    assert "jobs.jsonl:2: the same job as line 1" in ran.err
    assert _paid(fake) == 0


def test_a_download_refused_twice_right_after_ready_is_fetched_again_not_paid(run, fake, workdir):
    lines = _unnamed_jobs(workdir, ["a castle"])
    (workdir / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    fake.fail_next(2, 403, path="/results/")
    ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 0, ran.err
    (job,) = ran.json_lines()
    assert job["status"] == "ok"
    assert _paid(fake) == 1


def test_an_image_refused_for_good_is_reported_expired_and_a_rerun_looks_again(run, fake, workdir):
    lines = _unnamed_jobs(workdir, ["a castle"])
    (workdir / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    fake.fail_next(50, 403, path="/results/")
    ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 1, ran.err
    (job,) = ran.json_lines()
    assert job["status"] == "expired" and "--resubmit-expired" in job["error"]
    fake.clear_faults()
    again = run("batch jobs.jsonl -o out --json")  # the task is fetched, not paid again
    assert again.code == 0, again.err
    assert _paid(fake) == 1
    paid = run("batch jobs.jsonl -o out --json --resubmit-expired")
    assert paid.code == 0 and _paid(fake) == 1  # its image is there now: nothing to pay


def test_a_rerun_from_another_state_folder_resumes_from_the_output_folder(
    run, fake, workdir, monkeypatch
):
    lines = _unnamed_jobs(workdir, ["a castle", "a tower"])
    (workdir / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    fake.task_duration = 1e9  # never ready: the first run stops at its timeout
    first = run("batch jobs.jsonl -o out --json --timeout 5")
    assert first.code == 1, first.err
    assert _paid(fake) == 2
    # another user, container or sudo: another state folder, the same output folder
    monkeypatch.setenv("FLUX_CANNY_STATE_DIR", str(workdir / "other-state"))
    fake.task_duration = 1.0
    for task in fake.tasks.values():
        task.duration = 1.0
    again = run("batch jobs.jsonl -o out --json")
    assert again.code == 0, again.err
    assert {j["status"] for j in again.json_lines()} == {"ok"}
    assert _paid(fake) == 2
    with Ledger() as other:
        assert {e.task_id for e in other.entries() if e.task_id} == set(fake.tasks)


def test_a_task_adopted_from_the_output_folder_keeps_its_endpoint(run, fake, workdir, monkeypatch):
    """Another state folder adopts a FLUX.2 task from the output folder's record: its row
    names flux-2-pro, as `tasks` shows it (the record once dropped the endpoint: None)."""
    (workdir / "a.png").write_bytes(make_image("PNG", (40, 32)))
    job = {"endpoint": "flux-2-pro", "prompt": "a castle", "input_image": "a.png"}
    (workdir / "jobs.jsonl").write_text(json.dumps(job) + "\n")
    fake.task_duration = 1e9  # never ready: the first run stops at its timeout
    assert run("batch jobs.jsonl -o out --json --timeout 5").code == 1
    monkeypatch.setenv("FLUX_CANNY_STATE_DIR", str(workdir / "other-state"))
    for task in fake.tasks.values():
        task.duration = 1.0
    again = run("batch jobs.jsonl -o out --json")
    assert again.code == 0, again.err
    assert _paid(fake) == 1
    with Ledger() as other:
        assert [e.operation for e in other.entries() if e.task_id] == ["flux-2-pro"]


def test_a_submit_cut_short_is_uncertain_from_any_state_folder(run, fake, workdir, monkeypatch):
    lines = _unnamed_jobs(workdir, ["a castle"])
    (workdir / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    fake.fail_next(1, "drop", path="/v1/flux-pro-1.0-canny-finetuned")  # paid, answer lost
    first = run("batch jobs.jsonl -o out --json")
    assert first.code == 1 and first.json_lines()[0]["status"] == "uncertain", first.err
    paid = _paid(fake)
    monkeypatch.setenv("FLUX_CANNY_STATE_DIR", str(workdir / "other-state"))
    again = run("batch jobs.jsonl -o out --json")
    assert again.code == 1, again.err
    (job,) = again.json_lines()
    assert job["status"] == "uncertain" and "--resubmit-uncertain" in job["error"]
    assert _paid(fake) == paid


def test_the_output_folders_record_holds_no_key_and_is_private(run, fake, workdir):
    lines = _unnamed_jobs(workdir, ["a castle"])
    (workdir / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    assert run("batch jobs.jsonl -o out").code == 0
    record = workdir / "out" / ".flux-canny-tasks.jsonl"
    assert record.stat().st_mode & 0o777 == 0o600
    text = record.read_text()
    assert "test-key" not in text and set(fake.tasks) <= set(text.split('"'))


def test_a_dangling_link_at_the_output_is_refused_before_paying(run, fake, workdir):
    (workdir / "castle.jpg").symlink_to(workdir / "nowhere" / "castle.jpg")
    ran = run("generate control.png --prompt p --finetune-id my-finetune -o castle.jpg")
    assert ran.code == 2 and "castle.jpg exists" in ran.err
    assert _paid(fake) == 0
    lines = _unnamed_jobs(workdir, ["a castle"])
    (workdir / "jobs.jsonl").write_text(
        json.dumps({**json.loads(lines[0]), "name": "castle"}) + "\n"
    )
    (workdir / "out").mkdir()
    (workdir / "out" / "castle.jpg").symlink_to(workdir / "nowhere" / "castle.jpg")
    ran = run("batch jobs.jsonl -o out")
    assert ran.code == 2 and "is a symbolic link" in ran.err
    assert _paid(fake) == 0


def test_an_output_that_appears_after_paying_keeps_the_image(run, fake, workdir, monkeypatch):
    from flux_canny.cli import _outputs

    original = _outputs.save_paid

    def a_link_appears_first(image, target, ledger, *, overwrite):
        target.symlink_to(workdir / "nowhere.jpg")
        return original(image, target, ledger, overwrite=overwrite)

    monkeypatch.setattr(_outputs, "save_paid", a_link_appears_first)
    from flux_canny.cli import _task_run

    monkeypatch.setattr(_task_run, "save_paid", a_link_appears_first)
    ran = run("generate control.png --prompt p --finetune-id my-finetune -o castle.jpg")
    assert ran.code == 1, ran.err
    assert "the image was kept at" in ran.err and "nothing was sent" not in ran.err
    with Ledger() as ledger:
        (entry,) = ledger.entries()
    assert entry.state == "kept" and entry.kept_at
    assert _paid(fake) == 1
    (workdir / "castle.jpg").unlink()
    again = run(f"result {entry.task_id}")  # finished from the kept copy, nothing paid
    assert again.code == 0, again.err
    assert (workdir / "castle.jpg").exists() and _paid(fake) == 1


def test_resubmit_uncertain_never_pays_for_a_job_edited_since_its_image_was_made(
    run, fake, workdir
):
    """--resubmit-uncertain is the word for the request whose submit was cut short; a job
    edited again since then, whose image another request made, is `changed` as ever."""
    (workdir / "c.png").write_bytes(make_image("PNG", (48, 32)))

    def write(prompt):
        job = {"name": "castle", "control_image": "c.png", "prompt": prompt}
        (workdir / "jobs.jsonl").write_text(json.dumps({**job, "finetune_id": "my-finetune"}))

    write("a castle")
    assert run("batch jobs.jsonl -o out").code == 0
    made = (workdir / "out" / "castle.jpg").read_bytes()
    write("a castle at dusk")
    fake.fail_next(1, "drop", path="/v1/flux-pro-1.0-canny-finetuned")  # paid, answer lost
    cut = run("batch jobs.jsonl -o out --json --regenerate-changed")
    assert cut.json_lines()[0]["status"] == "uncertain", cut.err
    paid = _paid(fake)
    write("a castle at night")  # edited again: this request was never asked for
    ran = run("batch jobs.jsonl -o out --json --resubmit-uncertain")
    assert ran.code == 1, ran.err
    (job,) = ran.json_lines()
    assert job["status"] == "changed" and "--regenerate-changed" in job["error"], job
    assert _paid(fake) == paid
    assert (workdir / "out" / "castle.jpg").read_bytes() == made


def test_a_regeneration_cut_short_and_resubmitted_replaces_the_old_image(run, fake, workdir):
    """--regenerate-changed, its submit cut short, then --resubmit-uncertain: the user has
    paid for the edited job's image, and it replaces the old one (not put aside)."""
    (workdir / "c.png").write_bytes(make_image("PNG", (48, 32)))

    def write(prompt):
        job = {"name": "castle", "control_image": "c.png", "prompt": prompt}
        (workdir / "jobs.jsonl").write_text(json.dumps({**job, "finetune_id": "my-finetune"}))

    write("a castle")
    assert run("batch jobs.jsonl -o out").code == 0
    old = (workdir / "out" / "castle.jpg").read_bytes()
    write("a castle at dusk")
    fake.fail_next(1, "drop", path="/v1/flux-pro-1.0-canny-finetuned")  # paid, answer lost
    cut = run("batch jobs.jsonl -o out --json --regenerate-changed")
    assert cut.json_lines()[0]["status"] == "uncertain", cut.err
    ran = run("batch jobs.jsonl -o out --json --resubmit-uncertain")
    assert ran.code == 0, ran.err
    (job,) = ran.json_lines()
    assert job["status"] == "ok", job
    assert (workdir / "out" / "castle.jpg").read_bytes() != old


def test_a_ledger_that_fills_mid_batch_fails_its_job_never_the_paid_ones(
    run, fake, workdir, monkeypatch
):
    """A claim the ledger cannot write is that job's error: the jobs already paid for are
    reported with their images, and the run never says nothing was submitted (exit 2)."""
    from flux_canny.errors import LedgerError

    lines = _unnamed_jobs(workdir, ["a castle", "a tower"])
    (workdir / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    claim, claims = Ledger.claim, []

    def filling(self, *args, **kwargs):
        claims.append(args)
        if len(claims) > 1:
            raise LedgerError("cannot write the task ledger: database or disk is full")
        return claim(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "claim", filling)
    ran = run("batch jobs.jsonl -o out --json --concurrency 1")
    assert ran.code == 1, ran.err
    first, second = ran.json_lines()
    assert first["status"] == "ok" and (workdir / first["path"]).is_file(), first
    assert second["status"] == "error" and "disk is full" in second["error"], second
    assert "nothing was submitted" not in ran.err
    assert _paid(fake) == 1
