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
        for name, cost in ((KLEIN, 1.0), (ULTRA, 6.0), (KLEIN, 1.0), (KLEIN, 1.0)):
            reserved = await budget.admit(name)
            assert reserved == (0.0 if name not in admitted else cost)
            budget.settle(reserved, cost, submitted=True, task="t", operation=name)
            admitted.append(name)
        with pytest.raises(BudgetExhaustedError, match=f"next task \\({ULTRA}\\) would cost 6"):
            await budget.admit(ULTRA)  # 9 spent: another Ultra would pass 10
        return admitted

    assert asyncio.run(run()) == [KLEIN, ULTRA, KLEIN, KLEIN]
