"""A spending limit for many generations (`max_cost=`, `batch --max-cost`).

The cost of a task is known only from its submit's answer, so the first submit goes out
alone; after it, each submit reserves the largest cost seen so far, and the reservation
becomes the real cost when the answer comes. Submits running at once therefore never
overshoot the limit together, which a check of "spent so far" alone would let them do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from .errors import BudgetExhaustedError, SubmitUncertainError

if TYPE_CHECKING:
    import asyncio

__all__ = ["Budget"]


@attrs.define
class Budget:
    limit: float
    spent: float = 0.0
    _reserved: float = 0.0
    _estimate: float | None = None
    #: made on first use: a Budget is built before any event loop runs
    _probing_lock: asyncio.Lock | None = None

    @property
    def _probing(self) -> asyncio.Lock:
        if self._probing_lock is None:
            import asyncio

            self._probing_lock = asyncio.Lock()
        return self._probing_lock

    async def admit(self) -> float:
        """Reserve room for one submit, or raise BudgetExhaustedError. Returns the amount
        reserved, to hand back to `settle`."""
        if self._estimate is None:
            await self._probing.acquire()  # released by settle: one submit tells the cost
            if self._estimate is None:
                if self.spent >= self.limit:
                    self._probing.release()
                    raise self._exhausted()
                return 0.0
            self._probing.release()
        need = self._estimate
        if self.spent + self._reserved + need > self.limit + 1e-9:
            raise self._exhausted()
        self._reserved += need
        return need

    def settle(self, reserved: float, cost: float | None, *, submitted: bool) -> None:
        """The submit's outcome: what it really cost (None: unknown), or not submitted."""
        self._reserved -= reserved
        if submitted:
            actual = cost if cost is not None else reserved
            self.spent += actual
            if cost is not None:
                self._estimate = max(self._estimate or 0.0, cost)
            elif self._estimate is None:
                self._estimate = 0.0  # the server states no cost: nothing to limit by
        if self._probing.locked() and reserved == 0.0:
            self._probing.release()

    def settle_future(self, reserved: float, submit: asyncio.Future[Any]) -> None:
        """`settle` from a finished submit task: a task may exist after an uncertain one,
        so that is counted as spent, never as free."""
        if submit.cancelled():
            self.settle(reserved, None, submitted=True)
        elif submit.exception() is not None:
            uncertain = isinstance(submit.exception(), SubmitUncertainError)
            self.settle(reserved, None, submitted=uncertain)
        else:
            self.settle(reserved, getattr(submit.result(), "cost", None), submitted=True)

    def _exhausted(self) -> BudgetExhaustedError:
        return BudgetExhaustedError(
            f"not submitted: {self.spent:g} of max_cost {self.limit:g} credits spent, and the "
            f"next task would cost {self._estimate or 0:g}"
        )
