"""A spending limit for many generations (`max_cost=`, `batch --max-cost`).

The cost of a task is known only from its submit's answer, and the live API may state
none (or a NaN, or a negative one). An unknown cost is never taken for zero: a run with
a limit either counts it at a price per task the user states (`cost_per_task=`,
`batch --cost-per-task`), or stops submitting at the first answer that states none, and
says why. Taken for zero, it let six of six jobs through a limit ("spent 0 credits").

The first submit goes out alone, to learn the cost, reserving the stated price if there
is one; after it, each submit reserves the largest of the price and the costs seen so
far, and the reservation becomes the real cost when the answer comes. So a stated price
keeps even the first submit under the limit, and submits running at once never
overshoot it together, which a check of "spent so far" alone would let them do.

Costs are learned per endpoint: a klein task and an Ultra one differ several times over,
so the first submit of each endpoint is the one that goes alone, and a cheap endpoint's
submits are not reserved at the dearest one's price. That first submit reserves the
dearest cost seen on any endpoint so far: reserved at nothing, the first task of each new
endpoint of a mixed run went past the limit (12 credits, three endpoints at 5: charged 15).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from ._operations import CANNY
from .errors import BudgetExhaustedError, SubmitUncertainError

if TYPE_CHECKING:
    import asyncio

__all__ = ["Budget", "Spent"]


@attrs.define
class Budget:
    limit: float
    #: the price of a task whose answer states no cost (None: such a task stops the run)
    cost_per_task: float | None = None
    #: the argument that states it, named when the run stops for want of it
    price_hint: str = "cost_per_task="
    spent: float = 0.0
    _reserved: float = 0.0
    #: the most a task of each endpoint was seen to cost (at least cost_per_task)
    _estimates: dict[str, float] = attrs.field(factory=dict)
    #: the endpoints an answer came back for (a cost, or a task whose cost is unknown):
    #: no more probing them
    _learned: set[str] = attrs.field(factory=set)
    #: the first submit is out, alone; its settle lets the others in
    _probe_out: bool = False
    #: the task whose cost was not stated, when there is no price to count it at
    _unknown: str | None = None
    #: made on first use: a Budget is built before any event loop runs
    _probing_lock: asyncio.Lock | None = None

    def _estimate(self, operation: str) -> float | None:
        return self._estimates.get(operation, self.cost_per_task)

    @property
    def _probing(self) -> asyncio.Lock:
        if self._probing_lock is None:
            import asyncio

            self._probing_lock = asyncio.Lock()
        return self._probing_lock

    async def admit(self, operation: str = CANNY) -> float:
        """Reserve room for one submit to `operation`, or raise BudgetExhaustedError.
        Returns the amount reserved, to hand back to `settle`."""
        probe = False
        if operation not in self._learned:
            await self._probing.acquire()  # released by settle: one submit tells the cost
            probe = operation not in self._learned
            if not probe:
                self._probing.release()
        need = self._estimate(operation)
        if need is None and probe:  # its price is not known yet: the dearest seen so far
            need = max(self._estimates.values(), default=None)
        need = need or 0.0
        unaffordable = self.spent + self._reserved + need > self.limit + 1e-9
        if self._unknown is not None or unaffordable or (probe and self.spent >= self.limit):
            if probe:
                self._probing.release()
            raise self._exhausted(operation, need)
        self._reserved += need
        self._probe_out = probe
        return need

    def settle(
        self,
        reserved: float,
        cost: float | None,
        *,
        submitted: bool,
        task: str = "?",
        operation: str = CANNY,
    ) -> None:
        """The submit's outcome: what it really cost (None: unknown), or not submitted.
        `task` names it (its id) for the message if its cost stops the run."""
        self._reserved -= reserved
        if submitted and cost is not None:
            self.spent += cost
            self._estimates[operation] = max(self._estimate(operation) or 0.0, cost)
        elif submitted:
            # unknown: what was reserved (the stated price, or more), and with no price
            # to count it at, nothing more is submitted
            self.spent += reserved
            if self.cost_per_task is None and self._unknown is None:
                self._unknown = task
        if submitted:
            self._learned.add(operation)
        if self._probe_out:  # while the probe is out, no other submit is admitted
            self._probe_out = False
            self._probing.release()

    def settle_future(
        self, reserved: float, submit: asyncio.Future[Any], operation: str = CANNY
    ) -> None:
        """`settle` from a finished submit task: a task may exist after an uncertain one,
        so that is counted as spent at an unknown cost, never as free."""
        if submit.cancelled():
            said = "a submit cut short"
            self.settle(reserved, None, submitted=True, task=said, operation=operation)
        elif submit.exception() is not None:
            error = submit.exception()
            if isinstance(error, SubmitUncertainError):
                said = error.task_id or "an uncertain submit (no task id came back)"
                self.settle(reserved, None, submitted=True, task=said, operation=operation)
            else:
                self.settle(reserved, None, submitted=False, operation=operation)
        else:
            task = submit.result()
            self.settle(reserved, task.cost, submitted=True, task=task.id, operation=operation)

    def _exhausted(self, operation: str, need: float) -> BudgetExhaustedError:
        if self._unknown is not None:
            return BudgetExhaustedError(
                f"not submitted: the submit answer of task {self._unknown} stated no cost "
                f"that can be counted, so max_cost {self.limit:g} could be passed unseen; "
                f"state the price of a task ({self.price_hint}) to go on under the limit"
            )
        return BudgetExhaustedError(
            f"not submitted: {self.spent:g} of max_cost {self.limit:g} credits spent, and the "
            f"next task ({operation}) would cost {need:g}"
        )


@attrs.define
class Spent:
    """What a run's new tasks cost, as their submit answers say: never a negative or NaN
    sum, and a task that states no cost is counted as unknown, never as free."""

    stated: float = 0.0
    tasks: int = 0
    unstated: int = 0

    def add(self, cost: float | None) -> None:
        """One new task, and its cost (None when its answer stated none)."""
        self.tasks += 1
        if cost is None:
            self.unstated += 1
        else:
            self.stated += cost

    def said(self, cost_per_task: float | None = None) -> str:
        """'12 credits', or what is known: the stated sum, and the tasks that stated none
        (counted at `cost_per_task` when it is given)."""
        if not self.unstated:
            return f"{self.stated:g} credits"
        if cost_per_task is not None:
            total = self.stated + self.unstated * cost_per_task
            return (
                f"{total:g} credits ({self.unstated} task(s) stated no cost, counted at "
                f"{cost_per_task:g} each)"
            )
        return (
            f"at least {self.stated:g} credits ({self.unstated} task(s) stated no cost, "
            "not counted)"
        )
