"""Running `batch`'s jobs: each through the ledger (claimed in a transaction, written
down before its POST, resumed rather than paid for again), under the task cap and a
spending limit, stopping cleanly on Ctrl-C or SIGTERM.

Jobs are taken from the file as room frees, in a window of twice the task cap: the next
job's claim and request body are ready when a task finishes, and memory holds the
window, not the file. A slot under the cap is held from the submit until the task is
seen Ready, as BFL counts it, so one job's download and save overlap the next submit.

On a ledger shared by several machines (PostgreSQL), each worker runs the same command:
a slot is also taken in the database, so the fleet together stays under the cap, and a
job another worker holds is looked at again once the file is through, until that
worker finished it (skipped here) or its lease lapsed (then taken over here).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import signal
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import attrs

from .. import _offload
from .._budget import Budget, Spent
from .._operations import operation, origin
from .._window import windowed
from ..aclient import AsyncFluxCanny
from ..errors import (
    BudgetExhaustedError,
    FluxCannyError,
    LedgerError,
)
from ..ledger import GONE, Claim, ClaimKind, Entry, Ledger, State
from ..models import Result, Task
from ._batch_jobs import SETTLED, Job, Outcome, submit_word
from ._batch_spool import Spool
from ._exit import one_line, outcome_word
from ._options import ApiSettings, make_async_client
from ._outputs import (
    ImageKept,
    finish_kept,
    save_paid,
)
from ._progress import BatchProgress

__all__ = ["INTERRUPT_GRACE", "PAY_AGAIN", "Runner"]

P = ParamSpec("P")
T = TypeVar("T")

#: the one flag that pays again for a job, by what its last attempt left: the user's word
PAY_AGAIN = {
    "uncertain": "--resubmit-uncertain",
    "not_found": "--resubmit-not-found",
    "expired": "--resubmit-expired",
    "changed": "--regenerate-changed",
}

#: how long Ctrl-C / SIGTERM waits for submits in flight to answer, so their ids are kept
INTERRUPT_GRACE = 10.0
#: seconds between looks at the jobs other workers of a shared ledger hold
BUSY_RECHECK = 0.5
#: seconds between asks for a slot while the fleet holds every one, doubling up to the most
_SLOT_WAIT = 0.005
_SLOT_WAIT_MOST = 0.02


class _Slot:
    """One of the key's active tasks under the cap: taken before a submit (or before
    waiting on a resumed task) and given back as soon as the task is seen Ready, or
    when the job ends, whichever comes first."""

    def __init__(self, slots: asyncio.Semaphore, fleet: _FleetSlots | None = None) -> None:
        self._slots = slots
        self._fleet = fleet
        self._held = False
        self._id = 0

    async def take(self) -> None:
        await self._slots.acquire()
        self._held = True
        if self._fleet is not None:
            try:
                self._id = await self._fleet.take()
            except BaseException:
                self.give_back()
                raise

    def give_back(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()
            if self._fleet is not None and self._id:
                self._fleet.give(self._id)
                self._id = 0

    def on_update(self, result: Result) -> None:
        if result.is_ready:
            self.give_back()


class _AgainLater(Exception):
    """A job of a shared ledger that met the database away before anything was sent:
    looked at again with the jobs other workers hold (see `Runner._settle_busy`)."""


class _FleetSlots:
    """The key's slots counted in a shared ledger, for every worker of the fleet.

    The jobs waiting for one queue here, and one poller asks the database for them in
    turn: while the fleet holds every slot it asks every few milliseconds (a slot idle
    for the wait is a task not running: tasks of 0.5 s lost a tenth of the fleet's time
    to a wait of 250 ms), and a worker's 48 jobs in the window ask once, not 48 times."""

    def __init__(self, ledger: Ledger, cap: int) -> None:
        self._ledger = ledger
        self._cap = cap
        self._waiting: collections.deque[asyncio.Future[int]] = collections.deque()
        self._poller: asyncio.Future[None] | None = None
        self._giving: set[asyncio.Future[None]] = set()

    async def take(self) -> int:
        """A slot, waiting while the fleet holds them all (each task ends, and a dead
        worker's slots free when its lease lapses)."""
        wanted: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append(wanted)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll())
        try:
            return await wanted
        except asyncio.CancelledError:
            if wanted.done() and not wanted.cancelled() and wanted.exception() is None:
                self.give(wanted.result())  # granted as it was cancelled
            raise

    async def _poll(self) -> None:
        wait = _SLOT_WAIT
        while self._waiting:
            head = self._waiting[0]
            if head.done():  # cancelled while waiting
                self._waiting.popleft()
                continue
            try:
                slot = await _offload.off_loop(self._ledger.take_slot, self._cap)
            except LedgerError as error:
                self._waiting.popleft()
                if not head.done():
                    head.set_exception(error)
                continue
            if slot is None:
                await asyncio.sleep(wait)
                wait = min(wait * 2, _SLOT_WAIT_MOST)
                continue
            wait = _SLOT_WAIT
            self._waiting.popleft()
            if head.done():
                self.give(slot)
            else:
                head.set_result(slot)

    def give(self, slot: int) -> None:
        """Given back off the loop (a poll's callback calls this); one that fails is given
        back by the next take (see `Ledger.give_slot`)."""
        loop = asyncio.get_running_loop()
        giving = loop.run_in_executor(None, self._give_quietly, slot)
        self._giving.add(giving)
        giving.add_done_callback(self._giving.discard)

    def _give_quietly(self, slot: int) -> None:
        with contextlib.suppress(LedgerError):
            self._ledger.give_slot(slot)

    async def settle(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await asyncio.gather(*self._giving, return_exceptions=True)


@attrs.define(eq=False)
class Runner:
    """Every job through the ledger: claimed, written ahead, resumed, never paid twice."""

    settings: ApiSettings
    ledger: Ledger
    scope: str
    spool: Spool
    progress: BatchProgress
    concurrency: int = attrs.field(kw_only=True)
    timeout: float = attrs.field(kw_only=True)
    #: the user's word to pay again, by the state of a job's last task (see PAY_AGAIN)
    pay_again: Mapping[str, bool] = attrs.field(kw_only=True)
    max_cost: float | None = attrs.field(kw_only=True, default=None)
    cost_per_task: float | None = attrs.field(kw_only=True, default=None)
    budget: Budget | None = attrs.field(init=False, default=None)  # made in run(), on its loop
    spent: Spent = attrs.field(init=False, factory=Spent)
    new_tasks: int = attrs.field(init=False, default=0)
    stopping: bool = attrs.field(init=False, default=False)
    interrupted: bool = attrs.field(init=False, default=False)
    _slots: asyncio.Semaphore = attrs.field(init=False)
    _hurry: asyncio.Event = attrs.field(init=False, factory=asyncio.Event)
    _fleet: _FleetSlots | None = attrs.field(init=False, default=None)
    #: jobs another worker of a shared ledger held when this one looked (see `_settle_busy`)
    _busy: list[Job] = attrs.field(init=False, factory=list)
    _waiting_for_others: bool = attrs.field(init=False, default=False)

    @_slots.default
    def _cap(self) -> asyncio.Semaphore:
        return asyncio.Semaphore(self.concurrency)

    # -- one job ----------------------------------------------------------------------------------

    def _claim(self, job: Job) -> Claim:
        return self.ledger.claim(
            self.scope,
            job.name,
            request_hash=job.request_hash,
            base_url=self._server_of(job),
            output=str(job.output.absolute()),
            prompt=job.fields.get("prompt"),
            finetune_id=job.fields.get("finetune_id"),
            resubmit_uncertain=self.pay_again["uncertain"],
            regenerate_changed=self.pay_again["changed"],
            resubmit_not_found=self.pay_again["not_found"],
            resubmit_expired=self.pay_again["expired"],
        )

    def _server_of(self, job: Job) -> str:
        """Where the job goes: the API root given, else its endpoint's spec server."""
        if self.settings.configured:
            return self.settings.base_url
        return origin(operation(job.endpoint))

    async def _job(self, flux: AsyncFluxCanny, job: Job) -> None:
        if self.stopping:
            return
        slot = _Slot(self._slots, self._fleet)
        try:
            outcome = await self._run_job(flux, job, slot)
        except _AgainLater:
            self._busy.append(job)
            return
        except LedgerError as error:  # its claim or its row: before any POST of this job
            outcome = Outcome(job, "error", None, None, one_line(error))
        finally:
            slot.give_back()
        if outcome.status == "busy" and self._waiting_for_others:
            self._busy.append(job)  # another worker's for now: looked at again later
            return
        self._finished(outcome, was_active=outcome.task_id is not None)

    def _finished(self, outcome: Outcome, *, was_active: bool = False) -> None:
        self.spool.add(outcome)
        failed = None if outcome.status in SETTLED else (outcome.error or outcome.status)
        self.progress.finished(
            outcome.job.name, failed, was_active=was_active, status=outcome.status
        )

    async def _run_job(self, flux: AsyncFluxCanny, job: Job, slot: _Slot) -> Outcome:
        if job.output.exists():
            known = await self._before_post(self.ledger.job, self.scope, job.name)
            if known is None or known.request_hash is None:
                return Outcome(job, "skipped", known.task_id if known else None, job.output)
        claim = await self._before_post(self._claim, job)
        entry = claim.entry
        if claim.kind == ClaimKind.DONE:
            return Outcome(job, "skipped", entry.task_id, job.output)
        if claim.kind == ClaimKind.CHANGED:
            return _changed(job, entry)
        if claim.kind == ClaimKind.UNCERTAIN:
            return Outcome(
                job,
                "uncertain",
                None,
                None,
                f"an earlier submit may have created a task ({entry.error}); check your "
                f"recent tasks, then rerun with {PAY_AGAIN['uncertain']} to submit it again",
            )
        if claim.kind == ClaimKind.BUSY:
            return Outcome(
                job,
                "busy",
                entry.task_id,
                None,
                f"another flux-canny process (pid {entry.pid}) is working on this job",
            )
        if claim.kind == ClaimKind.KEPT:
            return await _offload.off_loop(self._from_kept, job, entry)
        if claim.kind == ClaimKind.NEW and job.derived_name and not self.pay_again["changed"]:
            edited = await _offload.off_loop(self._edited_from, job)
            if edited is not None:  # an unnamed job whose fields were edited
                await _offload.off_loop(self.ledger.release, entry.row)
                return _changed(job, edited)
        replaced = claim.replaced
        note = None
        if claim.kind == ClaimKind.RESUME:
            assert entry.task_id is not None
            task = Task(id=entry.task_id, polling_url=entry.polling_url)
            await slot.take()  # it may still be running: it counts under the cap
            self.progress.started()
        else:
            if replaced is not None and replaced.task_id and replaced.state in GONE:
                note = (
                    f"its earlier task {replaced.task_id} ended without an image "
                    f"({replaced.state}); submitted again"
                )
            try:
                submitted = await self._submit(flux, job, claim, slot)
            except FluxCannyError as error:
                unsent = isinstance(error, LedgerError) and error.task_id is None
                if unsent and self._waiting_for_others:  # not written ahead, so not sent
                    raise _AgainLater from None
                return Outcome(job, submit_word(error), error.task_id, None, one_line(error))
            if submitted is None:
                return Outcome(job, "not started")
            task = submitted
        overwrite = (
            replaced is not None
            and replaced.state == State.DOWNLOADED
            and replaced.output == str(job.output.absolute())
        )
        outcome = await self._finish(flux, job, task, slot, overwrite=overwrite)
        flag = PAY_AGAIN.get(outcome.status.replace(" ", "_"))
        if flag is not None:  # absence of evidence: reported, never paid for again here
            outcome.error = (
                f"{outcome.error}; run the same command again to look for it again, or "
                f"pass {flag} to pay for a new task"
            )
        if note is not None:
            outcome.error = "; ".join([note, *([outcome.error] if outcome.error else [])])
        return outcome

    async def _before_post(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A ledger call before a job's POST; a shared database away means the job is
        looked at again when it is back (see `_AgainLater`)."""
        try:
            return await _offload.off_loop(work, *args, **kwargs)
        except LedgerError:
            if self._waiting_for_others:
                raise _AgainLater from None
            raise

    def _edited_from(self, job: Job) -> Entry | None:
        """The ledger's record of the job an unnamed one was edited from: an unnamed job of
        the same image in this folder, paid for, whose request is no longer in the file."""
        for entry in self.ledger.siblings(self.scope, job.family):
            known = entry.name is not None and self.spool.has_name(entry.name)
            if entry.name != job.name and entry.task_id and not known:
                return entry
        return None

    async def _submit(
        self, flux: AsyncFluxCanny, job: Job, claim: Claim, slot: _Slot
    ) -> Task | None:
        try:
            # the endpoint is the jobs file's word: the per-endpoint overloads are for code
            prepare: Any = flux.prepare
            body = prepare(endpoint=job.endpoint, **{**job.fields, **job.images})
        except BaseException:
            await _offload.off_loop(self.ledger.release, claim.entry.row)
            raise
        if not self.stopping:
            await slot.take()  # cancelled while waiting: release_mine() drops the claim
        if self.stopping:
            await _offload.off_loop(self.ledger.release, claim.entry.row)
            return None
        submitting = flux.submit_prepared(body, claim=claim, budget=self.budget)  # shielded
        del body
        try:
            task = await submitting
        except BudgetExhaustedError:
            await _offload.off_loop(self.ledger.release, claim.entry.row)  # never sent
            raise
        self.new_tasks += 1
        self.spent.add(task.cost)
        self.progress.started()
        return task

    async def _finish(
        self, flux: AsyncFluxCanny, job: Job, task: Task, slot: _Slot, *, overwrite: bool
    ) -> Outcome:
        try:
            image = await flux.resume(task, timeout=self.timeout, on_update=slot.on_update)
        except FluxCannyError as error:
            return Outcome(job, outcome_word(error), task.id, None, one_line(error))
        try:
            path = await _offload.off_loop(
                lambda: save_paid(image, job.output, self.ledger, overwrite=overwrite)
            )
        except ImageKept as kept:  # "kept" only where a copy is: else the task is the record
            status = "kept" if kept.kept is not None else "not saved"
            return Outcome(job, status, task.id, kept.kept, kept.format_message())
        return Outcome(job, "ok", task.id, path)

    def _from_kept(self, job: Job, entry: Entry) -> Outcome:
        try:
            path = finish_kept(entry, job.output, self.ledger, overwrite=False)
        except (OSError, LedgerError) as error:
            return Outcome(
                job,
                "kept",
                entry.task_id,
                Path(entry.kept_at or ""),
                f"still cannot write {job.output} ({one_line(error)}); the image stays at "
                f"{entry.kept_at}",
            )
        return Outcome(job, "ok", entry.task_id, path, "written from the image kept earlier")

    # -- the whole batch, and stopping it ---------------------------------------------------

    async def run(self, jobs: Iterable[Job]) -> None:
        """Every job to an outcome in the spool; jobs an interrupt left have none
        (`fill_unfinished` reads theirs from the ledger)."""
        loop = asyncio.get_running_loop()
        if self.max_cost is not None:
            self.budget = Budget(self.max_cost, self.cost_per_task, "--cost-per-task N")
        if self.ledger.shared:
            self._fleet = _FleetSlots(self.ledger, self.concurrency)
            self._waiting_for_others = True
        async with make_async_client(
            self.settings, wait_timeout=self.timeout, ledger=self.ledger
        ) as flux:
            everything = asyncio.ensure_future(self._all_jobs(flux, jobs))
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self.stop, everything)
            try:
                await everything
            except asyncio.CancelledError:
                if not self.interrupted:
                    raise
                await self._settle_submits(flux)
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    with contextlib.suppress(NotImplementedError, RuntimeError):
                        loop.remove_signal_handler(sig)
                if self._fleet is not None:
                    await self._fleet.settle()

    async def _all_jobs(self, flux: AsyncFluxCanny, jobs: Iterable[Job]) -> None:
        await self._feed(flux, jobs)
        if self._waiting_for_others:
            await self._settle_busy(flux)

    async def _settle_busy(self, flux: AsyncFluxCanny) -> None:
        """The jobs other workers held, looked at again until each is settled: finished
        there (skipped here), or taken over here once its worker's lease lapsed (its
        dead sends reaped as uncertain, its tasks resumed, its claims submitted). Bounded:
        past one task's wait and two leases, a job still held is reported busy."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout + 2 * self.ledger.lease
        while self._busy and loop.time() < deadline:
            with contextlib.suppress(LedgerError):  # nothing of ours in flight: hand over
                await _offload.off_loop(self.ledger.settle_mine)
            await asyncio.sleep(BUSY_RECHECK)
            with contextlib.suppress(LedgerError):
                await _offload.off_loop(self.ledger.reap)
            again, self._busy = self._busy, []
            await self._feed(flux, again)
        self._waiting_for_others = False
        again, self._busy = self._busy, []
        await self._feed(flux, again)  # reported as they are now

    async def _feed(self, flux: AsyncFluxCanny, jobs: Iterable[Job]) -> None:
        """Jobs a window of twice the cap ahead, so the next one's claim and body are
        ready when a slot frees; cancelled (Ctrl-C), it cancels the jobs still running."""
        finished = windowed(jobs, functools.partial(self._job, flux), 2 * self.concurrency)
        async with contextlib.aclosing(finished):
            async for _ in finished:
                pass

    def fill_unfinished(self, jobs: Iterable[Job]) -> None:
        """After an interrupt: the jobs with no outcome get what their rows say."""
        for job in jobs:
            if not self.spool.has(job):
                self.spool.add(self._unfinished(job))

    def stop(self, everything: asyncio.Future[Any]) -> None:
        """First Ctrl-C / SIGTERM: no new submits, the rest wind down; second: hurry."""
        if self.interrupted:
            self._hurry.set()
            return
        self.interrupted = self.stopping = True
        everything.cancel()

    async def _settle_submits(self, flux: AsyncFluxCanny) -> None:
        """Give submits in flight a moment to answer, so their task ids are recorded; a
        second signal cuts it short. The ledger marks the ones cut short uncertain."""
        settling = asyncio.ensure_future(flux.settle_submits(INTERRUPT_GRACE))
        hurry = asyncio.ensure_future(self._hurry.wait())
        await asyncio.wait({settling, hurry}, return_when=asyncio.FIRST_COMPLETED)
        hurry.cancel()
        settling.cancel()  # if still waiting: its cleanup cancels what is left
        await asyncio.gather(settling, hurry, return_exceptions=True)
        self.ledger.release_mine()

    def _unfinished(self, job: Job) -> Outcome:
        """What an interrupted job's row says: running, uncertain, or never started."""
        entry = self.ledger.job(self.scope, job.name)
        if entry is None or entry.state in (State.CLAIMED, State.REJECTED):
            return Outcome(job, "not started")
        if entry.state in (State.SENDING, State.UNCERTAIN):
            return Outcome(
                job,
                "uncertain",
                None,
                None,
                "interrupted while its submit was in flight; a task may exist",
            )
        if entry.state == State.DOWNLOADED and entry.output and Path(entry.output).exists():
            return Outcome(job, "ok", entry.task_id, Path(entry.output))  # saved as it stopped
        if entry.task_id and entry.state in (State.SUBMITTED, State.READY, State.DOWNLOADED):
            return Outcome(
                job,
                "interrupted",
                entry.task_id,
                None,
                "its task is recorded: run the same command again to resume it",
            )
        return Outcome(job, entry.state, entry.task_id, None, entry.error)


def _changed(job: Job, made_by: Entry) -> Outcome:
    task = f" (task {made_by.task_id})" if made_by.task_id else ""
    return Outcome(
        job,
        "changed",
        made_by.task_id,
        job.output if made_by.name == job.name else None,
        f"the job's request differs from the one that made its image{task}; "
        f"{PAY_AGAIN['changed']} pays for a new one",
    )
