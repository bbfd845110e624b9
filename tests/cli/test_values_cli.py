"""The commands, when an answer cannot be read, a value is past 64 bits, or the ledger's
disk fills mid-batch (issue 28, breaks 6, 11 and 14)."""

from __future__ import annotations

import contextlib
import json
import sqlite3

from flux_canny.ledger import Ledger

from tests.client.test_answers_and_values import SUBMIT, Rewritten
from tests.unit.test_ledger_bounded import disk_full_once

from .conftest import GEN
from .test_batch import _write_jobs

BIG = 2**70


def _statuses(ran):
    return [s["status"] for s in ran.json_lines()]


def test_a_null_task_id_is_uncertain_and_every_rerun_says_so_without_paying(
    run, fake, workdir, wire_cli
):
    wire_cli(transport=Rewritten(fake, SUBMIT, lambda b: {**b, "id": None}), clock=fake.clock)
    _write_jobs(workdir, 2)
    ran = run("batch jobs.jsonl -o out --json --concurrency 1")
    assert ran.code == 1 and _statuses(ran) == ["uncertain", "uncertain"]
    assert len(fake.tasks) == 2
    for _ in range(2):  # an AssertionError on every rerun, before
        again = run("batch jobs.jsonl -o out --json")
        assert again.code == 1, again.err
        assert _statuses(again) == ["uncertain", "uncertain"]
        assert "--resubmit-uncertain" in again.out and "Error" not in again.err
        assert len(fake.tasks) == 2


def test_a_row_an_earlier_version_wrote_from_a_null_id_is_uncertain_after_the_upgrade(
    run, fake, workdir
):
    _write_jobs(workdir, 1)
    fake.task_duration = 10_000.0
    first = run("batch jobs.jsonl -o out --json --timeout 1")
    assert _statuses(first) == ["timeout"], first.out
    ledger = Ledger()
    with contextlib.closing(sqlite3.connect(ledger.path)) as db:  # as the old version left it
        db.execute("UPDATE tasks SET task_id = NULL")
        db.execute("PRAGMA user_version = 0")
        db.commit()
    again = run("batch jobs.jsonl -o out --json")
    assert again.code == 1, again.err
    assert _statuses(again) == ["uncertain"] and "AssertionError" not in again.err
    assert len(fake.tasks) == 1


def test_a_seed_past_64_bits_is_saved_and_fetched_again_by_result(run, fake, workdir):
    ran = run(f"{GEN} --seed {BIG} --json -o big.png")
    assert ran.code == 0, ran.err
    made = ran.json()
    assert made["seed"] == BIG and (workdir / "big.png").exists()
    (row,) = Ledger().entries()
    assert (row.state, row.seed) == ("downloaded", BIG)
    again = run(f"result {made['task_id']} -o again.png --json")
    assert again.code == 0, again.err
    assert again.json()["seed"] == BIG and len(fake.tasks) == 1


def test_a_batch_of_seeds_past_64_bits_finishes_and_a_rerun_skips_it(run, fake, workdir):
    _write_jobs(workdir, 2)
    jobs = [json.loads(line) for line in (workdir / "jobs.jsonl").read_text().splitlines()]
    lines = [json.dumps({**job, "seed": BIG + i}) for i, job in enumerate(jobs)]
    (workdir / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    ran = run("batch jobs.jsonl -o out --json")
    assert ran.code == 0, ran.err
    assert _statuses(ran) == ["ok", "ok"]
    again = run("batch jobs.jsonl -o out --json")
    assert again.code == 0 and _statuses(again) == ["skipped", "skipped"]
    assert len(fake.tasks) == 2


def test_a_full_ledger_disk_mid_batch_names_the_unrecorded_task_and_submits_no_more(
    run, fake, workdir
):
    _write_jobs(workdir, 5)
    with disk_full_once(fake, tasks=2):
        ran = run("batch jobs.jsonl -o out --json --concurrency 1")
    assert ran.code != 0
    assert len(fake.tasks) == 2  # 8 POSTs, before
    unrecorded = next(t for t in fake.tasks if t not in {e.task_id for e in Ledger().entries()})
    err = " ".join(ran.err.split())
    assert f"submitted but not recorded: task {unrecorded}" in err
    assert f"`flux-canny result {unrecorded}` fetches it" in err
    assert "nothing was submitted that could not be recorded" not in err
