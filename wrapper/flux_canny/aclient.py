"""AsyncFluxCanny: the async face, plus generate_many for batches under the task cap."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

from . import _offload
from ._base import ClientBase
from ._budget import Budget
from ._checks import check_callback, check_number, check_wait
from ._effects import Failed, Flow, Record, Sleep, T, advance, interrupt
from ._generated import CREDITS, FINETUNE_DETAILS, MY_FINETUNES
from ._operations import CANNY
from ._params import AsyncCalls
from ._spec import packaged_spec
from ._window import windowed
from ._wire import SubmitBody
from .errors import EventLoopError, InvalidArgumentError
from .images import GeneratedImage
from .ledger import Claim
from .models import Result, Task, task_of
from .probe import ProbeReport, probe_flow

__all__ = ["BFL_ACTIVE_TASK_LIMIT", "AsyncFluxCanny"]

#: BFL answers 429 beyond this many active tasks per key.
BFL_ACTIVE_TASK_LIMIT = 24


class AsyncFluxCanny(ClientBase[httpx.AsyncClient], AsyncCalls):
    """The same methods as FluxCanny, awaitable, driven by the same flows."""

    _http_class = httpx.AsyncClient
    #: the event loop this client's connections belong to (the first it ran on)
    _loop: asyncio.AbstractEventLoop | None = None

    async def _perform(self, effect: Any) -> Any:
        if isinstance(effect, Sleep):
            return await self._core.clock.asleep(effect.seconds)
        if isinstance(effect, Record):
            try:
                return await _offload.off_loop(effect.write)
            except Exception as error:  # handed to the flow, which decides
                return Failed(error)
        try:
            reader = effect.reader(time.monotonic())
            kwargs = effect.httpx_kwargs(asynchronous=True, auth=self._auth)
            async with self._http.stream(**kwargs) as response:
                async for chunk in response.aiter_bytes():
                    reader.feed(chunk, time.monotonic())
                return self._auth.scrubbed(reader.response(response))
        except Exception as error:  # handed to the flow, which decides
            return Failed(self._auth.disarmed(error))

    def _on_this_loop(self) -> None:
        """Connections belong to the event loop that opened them. Used again from a new
        loop once the first has closed (a second `asyncio.run`), the client starts a new
        pool there; the old one's connections died with their loop. While the first loop
        is still open, its connections may be in use: that is refused, typed."""
        loop = asyncio.get_running_loop()
        if self._loop is None or self._loop is loop:
            self._loop = loop
            return
        if not self._loop.is_closed():
            raise EventLoopError(
                "this AsyncFluxCanny belongs to another event loop that is still open; "
                "nothing was sent. Make one client per event loop"
            )
        if not self._owns_http:
            raise EventLoopError(
                "the event loop this AsyncFluxCanny's http_client ran on has closed, and its "
                "connections with it; nothing was sent. Pass an http_client made on this loop"
            )
        self._http = self._new_http()
        self._loop = loop

    async def _run(self, flow: Flow[T]) -> T:
        self._check_open()
        self._on_this_loop()
        try:
            step = advance(flow, None)
            while step.effect is not None:
                try:
                    outcome = await self._perform(step.effect)
                except BaseException as error:  # cancelled: the flow records it, re-raises
                    step = interrupt(flow, error)
                else:
                    step = advance(flow, outcome)
        finally:
            flow.close()
        result: T = step.value
        return result

    async def _submit(self, endpoint: str, validate: bool | None, fields: dict[str, Any]) -> Task:
        body = self._prepare(endpoint, validate, fields)
        return await asyncio.shield(self._start_submit(body))

    if not TYPE_CHECKING:  # typed per endpoint by AsyncCalls' overloads

        async def submit(
            self, *, endpoint: str = CANNY, validate: bool | None = None, **fields: Any
        ) -> Task:
            """Submit one generation of `endpoint` (the canny finetune unless named)."""
            return await self._submit(endpoint, validate, fields)

    async def submit_prepared(
        self, body: SubmitBody, *, claim: Claim | None = None, budget: Budget | None = None
    ) -> Task:
        """Submit a prepared body; `claim` is the ledger's claim on a named job (batches),
        `budget` a spending limit shared with other submits (BudgetExhaustedError when
        this one would pass it).

        Cancelling the caller does not cancel the POST: its answer is a paid task id, which
        the ledger records; `settle_submits()` (and `aclose()`) wait for it."""
        row = self._core.claimed_row(body, claim)
        return await asyncio.shield(await self._admitted_submit(body, budget, row))

    def _start_submit(
        self, body: SubmitBody, row: int | None = None, budget: tuple[Budget, float] | None = None
    ) -> asyncio.Future[Task]:
        """The POST as a task of its own, out of reach of the caller's cancellation; its
        cost settles `budget` (a Budget and what was reserved) however it ends."""
        submit = asyncio.ensure_future(self._run(self._core.submit(body, row=row)))
        self._submits_in_flight.add(submit)
        submit.add_done_callback(self._submits_in_flight.discard)
        if budget is not None:
            spending, reserved = budget
            submit.add_done_callback(
                lambda done: spending.settle_future(reserved, done, body.operation)
            )
        return submit

    async def _admitted_submit(
        self, body: SubmitBody, budget: Budget | None, row: int | None = None
    ) -> asyncio.Future[Task]:
        """Start a submit once `budget` (if any) has room for it."""
        if budget is None:
            return self._start_submit(body, row)
        # BudgetExhaustedError: not submitted, not paid
        reserved = await budget.admit(body.operation)
        return self._start_submit(body, row, (budget, reserved))

    async def settle_submits(self, timeout: float | None = None) -> None:
        """Wait for the submits still in flight (each answer is a paid task id the ledger
        records). After `timeout` seconds, or if this wait is itself cancelled, the rest
        are cancelled, and the ledger marks them uncertain: sent, answer never read."""
        pending = set(self._submits_in_flight)
        try:
            if pending:
                await asyncio.wait(pending, timeout=timeout)
        finally:
            for submit in pending:
                submit.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def get_result(self, task: Task | str) -> Result:
        return await self._run(self._core.get_result(task_of(task)))

    async def wait(
        self,
        task: Task | str,
        *,
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
    ) -> Result:
        task = task_of(task)
        return await self._run(self._core.wait(task, timeout=timeout, on_update=on_update))

    async def download(self, result: Result) -> GeneratedImage:
        return await self._run(self._core.download(result))

    async def _generate(
        self,
        endpoint: str,
        validate: bool | None,
        fields: dict[str, Any],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
    ) -> GeneratedImage:
        body = self._prepare(endpoint, validate, fields)
        return await self._run(
            self._core.generate(body, timeout=timeout, on_update=on_update, on_submit=on_submit)
        )

    if not TYPE_CHECKING:  # typed per endpoint by AsyncCalls' overloads

        async def generate(
            self,
            *,
            endpoint: str = CANNY,
            timeout: float | None = None,
            on_update: Callable[[Result], None] | None = None,
            on_submit: Callable[[Task], None] | None = None,
            validate: bool | None = None,
            **fields: Any,
        ) -> GeneratedImage:
            """Submit, wait and download in one call (`endpoint`: the canny finetune unless
            named)."""
            return await self._generate(endpoint, validate, fields, timeout, on_update, on_submit)

    async def resume(
        self,
        task: Task | str,
        *,
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
    ) -> GeneratedImage:
        task = task_of(task)
        return await self._run(self._core.finish(task, timeout=timeout, on_update=on_update))

    async def probe(self, endpoint: str = CANNY) -> ProbeReport:
        report: ProbeReport = await self._run(
            probe_flow(self._core.exchange, packaged_spec(), endpoint)
        )
        return report

    async def credits(self) -> float:
        return float((await self._run(self._core.call(CREDITS))).credits_)

    async def my_finetunes(self) -> list[Any]:
        return list((await self._run(self._core.call(MY_FINETUNES))).finetunes)

    async def finetune_details(self, finetune_id: str) -> dict[str, Any]:
        flow = self._core.call(FINETUNE_DETAILS, finetune_id=finetune_id)
        return dict((await self._run(flow)).finetune_details.to_dict())

    async def generate_many(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = BFL_ACTIVE_TASK_LIMIT,
        on_submit: Callable[[int, Task], None] | None = None,
        on_done: Callable[[int, GeneratedImage | Exception], None] | None = None,
        max_cost: float | None = None,
        cost_per_task: float | None = None,
    ) -> list[GeneratedImage | Exception]:
        """Run many generations, never more than `concurrency` active tasks at once.

        Each request is a dict of `generate`'s keyword arguments, or `task=` (a Task or an
        id) to resume one already submitted. Returns one outcome per request, in input
        order: the image, or the exception (a FluxCannyError carries the task id when a
        task was created). Bad requests fail before their network call. A 429 backs off
        (Retry-After honoured) and retries. To keep memory flat on large batches, use
        `iter_many`, which hands over each outcome as it finishes.

        `max_cost`: credits the run may spend, counted from each submit's answer. An
        answer that states no cost stops further submits (BudgetExhaustedError) unless
        `cost_per_task` states the price to count it at; with it, every submit reserves
        that price first, so the limit is never passed.
        """
        check_callback("on_done", on_done)
        outcomes: list[GeneratedImage | Exception | None] = []
        async for index, outcome in self.iter_many(
            requests,
            concurrency=concurrency,
            on_submit=on_submit,
            max_cost=max_cost,
            cost_per_task=cost_per_task,
        ):
            outcomes.extend([None] * (index + 1 - len(outcomes)))
            outcomes[index] = outcome
            if on_done is not None:
                on_done(index, outcome)
        return [o for o in outcomes if o is not None]

    async def iter_many(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = BFL_ACTIVE_TASK_LIMIT,
        on_submit: Callable[[int, Task], None] | None = None,
        max_cost: float | None = None,
        cost_per_task: float | None = None,
    ) -> AsyncIterator[tuple[int, GeneratedImage | Exception]]:
        """Like generate_many, yielding `(index, outcome)` as each request finishes.

        A body is built (and its control image read) only once a slot is free, so a
        batch of thousands holds at most `concurrency` encoded images. Leaving the loop
        early cancels the requests still running; their task ids were already handed to
        `on_submit`.
        """
        check_number("concurrency", concurrency, low=1, integer=True)
        check_callback("on_submit", on_submit)
        if max_cost is not None:
            check_number("max_cost", max_cost)
        if cost_per_task is not None:
            check_number("cost_per_task", cost_per_task)
        if not isinstance(requests, Iterable) or isinstance(requests, str | bytes | Mapping):
            raise InvalidArgumentError(
                f"requests is an iterable of jobs (dicts of generate()'s arguments), got "
                f"{requests!r:.80}"
            )
        slots = asyncio.Semaphore(concurrency)
        # max_cost: credits the whole run may spend; a job that would pass it is not
        # submitted (its outcome is a BudgetExhaustedError), see flux_canny._budget
        advised: set[bytes] = set()  # the images whose size advice was given: once each
        budget = Budget(max_cost, cost_per_task) if max_cost is not None else None

        Outcome = tuple[int, GeneratedImage | Exception]

        async def one(item: tuple[int, Mapping[str, Any]]) -> Outcome:
            index, job = item
            if not isinstance(job, Mapping):
                return index, InvalidArgumentError(
                    f"job {index} is a dict of generate()'s arguments (or task=), got {job!r:.80}"
                )
            try:
                return index, await self._one_of_many(
                    index, dict(job), slots, on_submit, budget, advised
                )
            except Exception as error:  # one outcome per request; the caller sees them all
                return index, error

        # a window of twice the slots ahead: the next bodies are ready as slots free
        try:
            outcomes = windowed(enumerate(requests), one, 2 * concurrency)
            async with contextlib.aclosing(outcomes):
                async for outcome in outcomes:
                    yield outcome
        finally:
            # A submit in flight is never cancelled by leaving early: its answer carries a
            # task id that is paid for, and on_submit must see it.
            await self.settle_submits()

    async def _one_of_many(
        self,
        index: int,
        job: dict[str, Any],
        slots: asyncio.Semaphore,
        on_submit: Callable[[int, Task], None] | None,
        budget: Budget | None = None,
        advised: set[bytes] | None = None,
    ) -> GeneratedImage:
        timeout = job.pop("timeout", None)
        on_update = job.pop("on_update", None)
        job_on_submit = job.pop("on_submit", None)
        resumed = job.pop("task", None)
        # before the submit: a NaN timeout or a callback that is no function was refused
        # only once the job's task was paid for
        check_wait(timeout, on_update)
        check_callback("on_submit", job_on_submit)
        async with slots:  # a slot is an active task on the server
            if resumed is not None:
                if job:
                    raise InvalidArgumentError(
                        f"a job with task= takes no request fields: {sorted(job)}"
                    )
                task = task_of(resumed)
            else:
                validate = job.pop("validate", None)
                endpoint = job.pop("endpoint", CANNY)
                body = self._core.build_body(endpoint, job, validate, advised=advised)
                submit = await self._admitted_submit(body, budget)
                del body

                def handed_over(done: asyncio.Future[Task]) -> None:
                    # runs even when this job was cancelled meanwhile: the id is paid for
                    if done.cancelled() or done.exception() is not None:
                        return
                    if on_submit is not None:
                        on_submit(index, done.result())
                    if job_on_submit is not None:
                        job_on_submit(done.result())

                submit.add_done_callback(handed_over)
                task = await asyncio.shield(submit)
            # the job's timeout bounds its wait and its download together
            started = self._core.clock.monotonic()
            result = await self._run(self._core.wait(task, timeout=timeout, on_update=on_update))
            until = None if timeout is None else started + timeout  # a number, once waited
        return await self._run(self._core.download(result, task, until=until))

    async def aclose(self) -> None:
        """Close, after the submits still in flight have answered: their ids are paid for
        (a caller that left an iter_many loop early has not seen them yet)."""
        self._closed = True
        await self.settle_submits()
        if self._owns_http and self._loop in (None, asyncio.get_running_loop()):
            await self._http.aclose()  # else its connections closed with their loop
        self._close_ledger()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
