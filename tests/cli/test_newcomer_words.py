"""What a newcomer tripped over (issue 31), each as they saw it."""

from __future__ import annotations

import pytest


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


def test_an_unknown_finetune_points_to_the_finetunes_not_the_api_root(run, fake):
    ran = run("generate control.png --prompt p --finetune-id nobodys -o a.jpg")
    assert ran.code != 0
    assert "flux-canny finetunes" in ran.err and "API root" not in ran.err


def test_a_wrong_api_root_still_says_so(run, fake, monkeypatch):
    import httpx
    import respx

    with respx.mock(assert_all_called=False) as api:
        api.post(url__regex=r".*").respond(404, json={"detail": "Not Found"})
        ran = run(
            "generate control.png --prompt p --finetune-id f -o a.jpg "
            "--base-url https://api.example.com/wrong"
        )
    assert ran.code != 0 and "is the API root right?" in ran.err
    assert httpx  # the import is the respx transport's


def test_the_librarys_ctrl_c_note_teaches_resume():
    import pytest
    from flux_canny.fake import FakeBFL

    fake = FakeBFL(task_duration=60.0)
    with fake.client() as flux:
        task = flux.submit(control_image=_png(), prompt="p", finetune_id="my-finetune")

        def interrupt(_result):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt) as caught:
            flux.resume(task, on_update=interrupt)
    (note,) = caught.value.__notes__
    assert f"resume({task.id!r})" in note and "get_result()" not in note


def _png():
    from ..conftest import make_image

    return make_image("PNG", (64, 64))


def test_output_folders_are_made_before_paying_and_the_one_that_cannot_be_is_named(
    run, fake, workdir
):
    ran = run("generate control.png --prompt p --finetune-id my-finetune -o /proc/nope/x.jpg")
    assert ran.code == 2 and "cannot create the folder /proc/nope for x.jpg" in ran.err
    assert sum(fake.tasks_created.values()) == 0
    (workdir / "file").write_text("not a folder")
    ran = run("generate control.png --prompt p --finetune-id my-finetune -o file/sub/x.jpg")
    assert ran.code == 2 and f"cannot create the folder {workdir / 'file' / 'sub'}" in ran.err
    assert sum(fake.tasks_created.values()) == 0
    ran = run("generate control.png --prompt p --finetune-id my-finetune -o new/deeper/x.jpg")
    assert ran.code == 0, ran.err
    assert (workdir / "new" / "deeper" / "x.jpg").exists()
    assert "Missing folders are created" in " ".join(run("generate --help").out.split())


def test_generate_many_gives_the_size_advice_once_per_image(caplog):
    import logging

    from flux_canny.fake import FakeBFL

    from ..conftest import make_image

    shared, other = make_image("PNG", (128, 128)), make_image("PNG", (120, 100))
    jobs = [
        {"control_image": image, "prompt": f"p{i}", "finetune_id": "my-finetune"}
        for i, image in enumerate([shared] * 5 + [other])
    ]
    import asyncio

    from flux_canny.fake import VirtualClock

    fake = FakeBFL(task_duration=1.0, clock=VirtualClock())

    async def run_all():
        async with fake.async_client() as flux:
            return await flux.generate_many(jobs)

    with caplog.at_level(logging.WARNING, "flux_canny"):
        outcomes = asyncio.run(run_all())
    assert all(not isinstance(o, Exception) for o in outcomes)
    advice = [r for r in caplog.records if "BFL documents at most" in r.getMessage()]
    assert len(advice) == 2  # one per image, not one per job


def test_an_unreachable_api_is_said_after_a_second_not_after_the_last_retry(run, fake, caplog):
    import logging

    fake.fail_next(10, "connect")
    with caplog.at_level(logging.WARNING, "flux_canny"):
        ran = run("generate control.png --prompt p --finetune-id my-finetune -o a.jpg")
    assert ran.code != 0
    told = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert len(told) == 1 and "could not connect" in told[0]


@pytest.mark.parametrize("colours", ["standard", "256", "truecolor"])
def test_a_finished_bar_is_drawn_filled_in_any_terminal(colours):
    import io

    from flux_canny.cli._progress import BatchProgress
    from rich.console import Console

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, color_system=colours, width=80)
    with BatchProgress(console, 3) as progress:
        for name in "abc":
            progress.started()
            progress.finished(name, None)
    last = screen.getvalue().rsplit("\r", 1)[-1]
    assert "3/3" in last and "\x1b[32m━" in last  # green, not the unfilled grey


def test_the_conformance_output_the_docs_show_is_the_output_produced():
    import re
    from pathlib import Path

    from flux_canny.fake import FakeBFL, VirtualClock

    from ..conftest import make_image

    docs = (Path(__file__).parents[2] / "docs" / "spec-changes.md").read_text()
    assert "all as the spec says   (against the live API" not in docs
    for duration in (0.1, 3.0, 30.0):  # polls that may or may not land mid-task
        fake = FakeBFL(task_duration=duration, clock=VirtualClock())
        with fake.client(check_responses=True) as flux:
            flux.generate(
                control_image=make_image("PNG", (64, 64)),
                prompt="a castle",
                finetune_id="my-finetune",
            )
        summary = flux.conformance.summary()
        first, *rest = summary.splitlines()
        assert re.fullmatch(
            r"\d+ responses checked, (all as the spec says|\d+ deviations?:)", first
        )
        for line in rest:  # only the live statuses the docs name
            assert re.search(r'status: "(Reasoning|Generating)" is not one of', line), line


def test_cli_messages_name_the_clis_flags_not_the_librarys_arguments(run, fake, workdir):
    from .test_batch import _write_jobs

    fake.cost_per_task = 5.0
    _write_jobs(workdir, 3)
    ran = run("batch jobs.jsonl -o out --max-cost 7 --json")
    over = [row for row in ran.json_lines() if row["status"] == "over budget"]
    assert over and all("--max-cost 7" in row["error"] for row in over)
    fake.fail_next(10, "connect")
    ran = run("generate control.png --prompt p --finetune-id my-finetune -o a.jpg")
    said = ran.err + ran.out
    assert "--base-url" in said
    for library_word in ("max_cost", "base_url=", "api_key=", "cost_per_task"):
        assert library_word not in said
