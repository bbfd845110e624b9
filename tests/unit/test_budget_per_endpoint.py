"""A spending limit learns each endpoint's cost: a cheap endpoint's submits are not
reserved at the dearest one's price, and an endpoint not seen yet is probed alone."""

from __future__ import annotations

import asyncio

import pytest
from flux_canny import BudgetExhaustedError
from flux_canny._budget import Budget

KLEIN, ULTRA = "flux-2-klein-4b", "flux-pro-1.1-ultra"


def test_a_cheap_endpoint_is_not_refused_at_the_price_of_a_dear_one():
    async def run() -> list[str]:
        budget = Budget(10)
        admitted = []
        # an endpoint's first submit is reserved at the dearest price seen so far (none
        # at the start), the others at their own endpoint's
        steps = [(KLEIN, 1.0, 0.0), (ULTRA, 6.0, 1.0), (KLEIN, 1.0, 1.0), (KLEIN, 1.0, 1.0)]
        for name, cost, held in steps:
            reserved = await budget.admit(name)
            assert reserved == held
            budget.settle(reserved, cost, submitted=True, task="t", operation=name)
            admitted.append(name)
        with pytest.raises(BudgetExhaustedError, match=f"next task \\({ULTRA}\\) would cost 6"):
            await budget.admit(ULTRA)  # 9 spent: another Ultra would pass 10
        return admitted

    assert asyncio.run(run()) == [KLEIN, ULTRA, KLEIN, KLEIN]


def test_an_endpoints_first_submit_is_reserved_at_the_dearest_price_seen():
    """Three endpoints at 5 credits under a limit of 12: the third endpoint's first submit
    would pass it, and is refused; reserved at nothing, it was let through (charged 15)."""

    async def run() -> None:
        budget = Budget(12)
        for name in ("flux-pro-1.0-canny-finetuned", "flux-2-pro"):
            reserved = await budget.admit(name)
            budget.settle(reserved, 5.0, submitted=True, task="t", operation=name)
        with pytest.raises(BudgetExhaustedError, match="10 of max_cost 12 credits spent"):
            await budget.admit("flux-pro-1.0-fill")

    asyncio.run(run())
