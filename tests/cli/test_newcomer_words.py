"""What a newcomer tripped over (issue 31), each as they saw it."""

from __future__ import annotations


def test_credits_are_a_number_a_person_reads(run, fake):
    fake.credits = 1_000_000.0
    assert run("credits").out.strip() == "1,000,000"
    fake.credits = 12.5
    assert run("credits").out.strip() == "12.5"
    assert run("credits --json").json() == {"credits": 12.5}


def test_tasks_with_a_state_that_matches_nothing_says_none_match(run, fake):
    assert run("generate control.png --prompt p --finetune-id my-finetune -o a.jpg").code == 0
    ran = run("tasks --status uncertain")
    assert ran.code == 0 and "no task is uncertain" in ran.err
    assert "recorded yet" not in ran.err


def test_batch_stderr_uses_the_summary_tables_words(run, fake, workdir):
    from .test_batch import _write_jobs

    _write_jobs(workdir, 2)
    assert run("batch jobs.jsonl -o out").code == 0
    ran = run("batch jobs.jsonl -o out --json")
    table = {row["name"]: row["status"] for row in ran.json_lines()}
    assert table == {"job000": "skipped", "job001": "skipped"}
    assert "job000: skipped" in ran.err and ": ok" not in ran.err


def test_a_timeout_under_a_second_is_said_as_given(run, fake):
    fake.task_duration = 60.0
    ran = run("generate control.png --prompt p --finetune-id my-finetune -o a.jpg --timeout 0.5")
    assert ran.code == 5  # the documented exit status of a timeout
    assert "not ready after 0.5 s" in ran.err and "after 0 s" not in ran.err
