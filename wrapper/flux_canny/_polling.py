"""Polling one task until it is final: the schedule, the not-found grace, the ledger.

A sans-IO flow (see `_effects`) driven by both faces through `Core.wait`, given the
`Exchange` it polls through and the `Learning` it aims with, never the core. The
schedule's decisions live in `policy` and `_durations`; this module keeps the bookkeeping
around them: the two clocks a poll is measured on, what the ledger knows of a resumed
task, statuses outside the spec, and which final statuses raise which TaskError.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from ._checks import check_wait
from ._durations import DurationModel, PollPlan
from ._effects import Flow, Sleep
from ._operations import CANNY, listed
from .errors import (
    FluxCannyError,
    GenerationError,
    LedgerError,
    ModerationError,
    TaskNotFoundError,
    WaitTimeoutError,
    clean,
)
from .ledger import Ledger, State
from .models import FINAL_FAILURES, MODERATED, NOT_FOUND, PENDING, Result, Task
from .policy import PollPolicy, PollSchedule

if TYPE_CHECKING:
    from ._exchange import Exchange

__all__ = ["Learning", "wait"]

log = logging.getLogger("flux_canny")

#: a task another region's store does not know yet: tolerated until it is this old (s)
_NOT_FOUND_GRACE = 10.0
#: in-progress statuses the live API sends beyond the spec's enum
_LIVE_IN_PROGRESS = ("reasoning", "generating")


@attrs.define
class Learning:
    """What polling learns and aims with: the poll policy, and one duration model per
    endpoint (the seed's is `durations`), each read from the ledger once."""

    poll: PollPolicy
    #: the seed's endpoint's learned durations (the client's `durations`)
    durations: DurationModel
    #: the learned durations of each endpoint but the seed's
    _models: dict[str, DurationModel] = attrs.field(factory=dict, init=False, repr=False)
    #: the endpoints whose durations were read from the ledger (once each)
    _loaded: set[str] = attrs.field(factory=set, init=False, repr=False)

    def durations_for(self, operation: str | None) -> DurationModel:
        """The learned durations of `operation`'s tasks (the seed's unless named)."""
        if operation is None or operation == CANNY:
            return self.durations
        model = self._models.get(operation)
        if model is None:
            model = self._models[operation] = self.durations.sibling()
        return model

    def plan(
        self, exchange: Exchange, operation: str | None, durations: DurationModel
    ) -> PollPlan | None:
        """Poll times learned from finished tasks of the same endpoint: this client's, and
        on its first wait for that endpoint, those the ledger kept from earlier runs
        against the same API."""
        if not self.poll.learn or self.poll.fixed_interval is not None:
            return None
        name = operation or CANNY
        if name not in self._loaded:
            self._loaded.add(name)
            if exchange.ledger is not None and not durations.brackets():
                with contextlib.suppress(LedgerError):
                    base_url = str(exchange.origin(name))
                    for low, high in exchange.ledger.durations(base_url, operation=name):
                        durations.observe(low, high)
        return durations.costed_plan(
            request_cost=self.poll.request_cost,
            min_gap=self.poll.min_interval,
            latency_budget=self.poll.latency_budget,
        )


def wait(
    exchange: Exchange,
    learning: Learning,
    task: Task,
    *,
    timeout: float | None = None,
    default_timeout: float | None = None,
    on_update: Callable[[Result], None] | None = None,
) -> Flow[Result]:
    """Poll until a final status: Ready returns, others raise a TaskError. `timeout`
    (else `default_timeout`, the client's) bounds the whole wait."""
    check_wait(timeout, on_update)
    limit = default_timeout if timeout is None else timeout
    now = exchange.clock.monotonic()
    # A task resumed by id: when it was submitted, if the ledger knows, so progress is
    # read against the task's real age. Without that, progress says nothing about
    # when it will finish (50 % after 0.01 s since resuming reads as "any moment now",
    # and it was polled ten times a second), so it is not extrapolated at all.
    resumed_at, known_operation = _from_ledger(exchange, task)
    operation = task.operation or known_operation
    durations = learning.durations_for(operation)
    knows_start = task.submitted_at is not None or resumed_at is not None
    started = task.submitted_at if task.submitted_at is not None else resumed_at or now
    # Two clocks. Progress is extrapolated from when the submit returned: late, so the
    # finish is foreseen early, never late. Durations are learned from when the server
    # most likely handled each request (send/answer midpoints), so tasks submitted
    # under different loads still agree on them.
    origin = task.handled_at if task.handled_at is not None else started
    deadline = None if limit is None else now + limit
    plan = learning.plan(exchange, operation, durations)
    schedule = PollSchedule(
        learning.poll,
        plan=None if plan is None else plan.times,
        expected=None if plan is None else plan.polls,
        phase=durations.next_phase(),
        window=durations.window() if plan is not None else None,
    )
    since = now - (origin if plan is not None else started)
    delay = schedule.first_delay() - since if task.submitted_at is not None else 0.0
    last_pending: float | None = None
    last_handled: float | None = None
    unknown_seen: set[str] = set()
    try:
        while True:
            if deadline is not None:
                delay = min(delay, deadline - exchange.clock.monotonic())
            if delay > 0:
                yield Sleep(delay)
            result, handled = yield from exchange.stamped(exchange.get_result(task, until=deadline))
            now = exchange.clock.monotonic()
            if on_update is not None:
                on_update(result)
            if result.is_ready:
                yield from exchange.record(
                    _ready_writer(
                        learning, durations, task, (last_handled, handled - origin), schedule
                    ),
                    task.id,
                )
                return result
            kind = result.status.casefold()
            # another region's store may not know a young task for a moment; a resumed one
            # is as young as the ledger says (a rerun right after a crash polls early)
            fresh = knows_start and now - started < _NOT_FOUND_GRACE
            if not (kind in NOT_FOUND and fresh):
                yield from _raise_if_failed(exchange, result, task)
            if kind not in (PENDING, *NOT_FOUND, *_LIVE_IN_PROGRESS) and kind not in unknown_seen:
                unknown_seen.add(kind)
                log.warning(
                    "task %s reports status %r, which the spec does not list; "
                    "treating it as in progress",
                    task.id,
                    result.status,
                )
            last_pending, last_handled = now - started, handled - origin
            if deadline is not None and now >= deadline:
                raise WaitTimeoutError.about(
                    f"task {task.id} not ready after {limit:.3g} s (last status "
                    f"{clean(result.status)!r}); it may still finish",
                    task,
                    result,
                )
            progress = result.progress if knows_start else None
            delay = schedule.next_delay(last_pending, progress, learned=last_handled)
    except FluxCannyError as error:
        error.attach_task(task.id, task.polling_url)
        raise


def _ready_writer(
    learning: Learning,
    durations: DurationModel,
    task: Task,
    bracket: tuple[float | None, float],
    schedule: PollSchedule,
) -> Callable[[Ledger], None]:
    """Learn the task's duration bracket (last pending, first Ready), and write it down
    with the Ready state, so the next run's first polls are aimed too."""
    took: dict[str, float] = {}
    last_pending, ready = bracket
    if task.submitted_at is not None and learning.poll.learn:
        durations.observe(last_pending, ready, teaches=schedule.teaches)
        took = {"duration_low": last_pending or 0.0, "duration_high": ready}

    def write(ledger: Ledger) -> None:
        ledger.task_state(task.id, State.READY, **took)

    return write


def _from_ledger(exchange: Exchange, task: Task) -> tuple[float | None, str | None]:
    """What the ledger knows of `task`: when it was submitted (on this client's clock;
    only asked for a task resumed by id) and to which endpoint."""
    if exchange.ledger is None or (task.submitted_at is not None and task.operation is not None):
        return None, None
    try:
        entry = exchange.ledger.find(task.id)
    except LedgerError:
        return None, None
    if entry is None:
        return None, None
    if task.submitted_at is not None:
        return None, listed(entry.operation)
    return exchange.clock.monotonic() - max(0.0, time.time() - entry.created_at), listed(
        entry.operation
    )


def _raise_if_failed(exchange: Exchange, result: Result, task: Task) -> Flow[None]:
    kind = result.status.casefold()
    gone = (
        State.MODERATED
        if kind in MODERATED
        else State.FAILED
        if kind in FINAL_FAILURES
        else State.NOT_FOUND
        if kind in NOT_FOUND
        else None
    )
    if gone is not None:
        said = f"{result.status}"
        yield from exchange.record(
            lambda ledger: ledger.task_state(task.id, gone, error=said), task.id
        )
    details = clean(str(result.raw.get("details") or result.raw.get("result")))[:500]
    if kind in MODERATED:
        raise ModerationError.about(
            f"task {task.id}: {result.status} (no image); rephrase the prompt, use another "
            f"control image, or raise safety_tolerance. Details: {details}",
            task,
            result,
        )
    if kind in FINAL_FAILURES:
        raise GenerationError.about(
            f"task {task.id}: generation failed ({result.status}). Details: {details}; "
            "submitting again usually works",
            task,
            result,
        )
    if kind in NOT_FOUND:
        raise TaskNotFoundError.about(
            f"task {task.id}: the server does not know this task (results expire, and tasks "
            "belong to the key that made them)",
            task,
            result,
        )
