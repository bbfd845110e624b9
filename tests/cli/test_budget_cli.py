"""`batch --max-cost` when the submit answers state no cost (issue 28, break 3): the run
stops submitting and says why, or counts the price `--cost-per-task` states; the summary
never says a negative, NaN or zero spend for tasks whose cost is unknown."""

from __future__ import annotations

import math

import pytest

from tests.client.test_answers_and_values import SUBMIT, Rewritten

from .test_batch import _write_jobs

COSTS = {
    "missing": lambda body: {k: v for k, v in body.items() if k != "cost"},
    "NaN": lambda body: {**body, "cost": math.nan},
    "negative": lambda body: {**body, "cost": -30},
}


@pytest.fixture
def says_cost(fake, wire_cli):
    def wire(cost: str) -> None:
        wire_cli(transport=Rewritten(fake, SUBMIT, COSTS[cost]), clock=fake.clock)

    return wire


@pytest.mark.parametrize("cost", COSTS)
def test_an_unknown_cost_stops_the_batch_after_one_submit_and_says_why(
    run, fake, workdir, says_cost, cost
):
    says_cost(cost)
    _write_jobs(workdir, 6)
    ran = run("batch jobs.jsonl -o out --json --max-cost 100 --concurrency 3")
    assert ran.code == 1
    statuses = [s["status"] for s in ran.json_lines()]
    assert statuses.count("ok") == 1 and statuses.count("over budget") == 5
    assert len(fake.tasks) == 1  # 6 of 6 were sent
    (first,) = fake.tasks
    said = " ".join(ran.out.split())
    assert f"task {first} stated no cost" in said and "--cost-per-task N" in said
    err = " ".join(ran.err.split())
    assert "spent at least 0 credits (1 task(s) stated no cost, not counted)" in err
    assert "-30" not in err and "nan" not in err.lower()


def test_a_stated_price_per_task_keeps_the_batch_under_the_limit(run, fake, workdir, says_cost):
    says_cost("missing")
    _write_jobs(workdir, 5)
    ran = run("batch jobs.jsonl -o out --json --max-cost 12 --cost-per-task 5")
    assert ran.code == 1
    statuses = [s["status"] for s in ran.json_lines()]
    assert statuses.count("ok") == 2 and statuses.count("over budget") == 3
    assert len(fake.tasks) == 2
    err = " ".join(ran.err.split())
    assert "spent 10 credits (2 task(s) stated no cost, counted at 5 each)" in err


def test_a_stated_price_above_the_limit_submits_nothing(run, fake, workdir, says_cost):
    says_cost("missing")
    _write_jobs(workdir, 2)
    ran = run("batch jobs.jsonl -o out --json --max-cost 4 --cost-per-task 5")
    assert ran.code == 1 and not fake.tasks
    assert {s["status"] for s in ran.json_lines()} == {"over budget"}
