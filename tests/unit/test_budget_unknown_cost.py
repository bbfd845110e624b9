"""Budgets count what is unknown (issue 28, break 3).

A submit answer may state no cost (the live API may), a NaN or a negative one. Under
`max_cost` such a task is never free: without a stated price per task the run stops
submitting after it and says why; with `cost_per_task` every submit, the first one
included, reserves that price, so the limit is never passed.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from flux_canny import BudgetExhaustedError, GeneratedImage
from flux_canny.fake import FakeBFL

from tests.client.test_answers_and_values import SUBMIT, Rewritten

ARGS = {"prompt": "a castle", "finetune_id": "my-finetune"}

UNKNOWN_COSTS = {
    "missing": lambda body: {k: v for k, v in body.items() if k != "cost"},
    "null": lambda body: {**body, "cost": None},
    "NaN": lambda body: {**body, "cost": math.nan},
    "negative": lambda body: {**body, "cost": -30},
    "a string": lambda body: {**body, "cost": "5"},
    "2**1100": lambda body: {**body, "cost": 2**1100},
}


def _many(png, edit, jobs=6, **options):
    fake = FakeBFL(task_duration=0.05)
    transport = Rewritten(fake, SUBMIT, edit)

    async def main():
        async with fake.async_client(transport=transport) as flux:
            return await flux.generate_many([{"control_image": png, **ARGS}] * jobs, **options)

    return fake, asyncio.run(main())


@pytest.mark.parametrize("cost", UNKNOWN_COSTS, ids=list(UNKNOWN_COSTS))
def test_an_unknown_cost_stops_the_submits_and_names_the_task_and_the_argument(png, cost):
    fake, outcomes = _many(png, UNKNOWN_COSTS[cost], concurrency=3, max_cost=12)
    assert len(fake.tasks) == 1  # 6 of 6 were sent, "spent 0"
    (first,) = fake.tasks
    assert isinstance(outcomes[0], GeneratedImage)
    refused = outcomes[1:]
    assert all(isinstance(o, BudgetExhaustedError) for o in refused)
    said = str(refused[0])
    assert f"task {first} stated no cost" in said and "cost_per_task=" in said


@pytest.mark.parametrize("cost", ["missing", "NaN", "negative"])
def test_a_stated_price_counts_unknown_costs_from_the_first_submit(png, cost):
    fake, outcomes = _many(png, UNKNOWN_COSTS[cost], concurrency=3, max_cost=12, cost_per_task=5)
    assert len(fake.tasks) == 2  # 5 + 5 <= 12; a third would be 15
    assert [isinstance(o, GeneratedImage) for o in outcomes].count(True) == 2
    assert "max_cost 12" in str(outcomes[-1])


def test_a_stated_price_above_the_limit_sends_nothing(png):
    fake, outcomes = _many(png, UNKNOWN_COSTS["missing"], max_cost=12, cost_per_task=20)
    assert not fake.tasks and all(isinstance(o, BudgetExhaustedError) for o in outcomes)


def test_a_known_cost_above_the_stated_price_is_what_is_counted(png):
    fake, _ = _many(png, lambda body: {**body, "cost": 5.0}, max_cost=12, cost_per_task=1)
    assert len(fake.tasks) == 2  # reserved 1, cost 5; then 5 each: 5 + 5 <= 12 < 15


def test_an_uncertain_submit_is_not_free_either():
    from flux_canny._budget import Budget

    async def main():
        budget = Budget(100)
        reserved = await budget.admit()
        budget.settle(reserved, None, submitted=True, task="an uncertain submit")
        with pytest.raises(BudgetExhaustedError, match="an uncertain submit stated no cost"):
            await budget.admit()

    asyncio.run(main())


def test_a_spend_is_never_negative_nor_nan_and_unknown_is_said():
    from flux_canny._budget import Spent

    spent = Spent()
    for cost in (5.0, None, 3.0):
        spent.add(cost)
    assert spent.said() == "at least 8 credits (1 task(s) stated no cost, not counted)"
    assert spent.said(4) == "12 credits (1 task(s) stated no cost, counted at 4 each)"
