"""`batch`: many generations from a JSON-lines file, resumable, under the task cap.

Every job is checked before the first submit, so a typo on line 900 costs nothing, and so
is the output folder (writable, names within limits, room for the images). Each job goes
through the ledger (`flux_canny.ledger`): claimed in a transaction, written down before
its POST, resumed rather than paid for again on any rerun. A job whose submit may have
created a task without telling us is reported `uncertain` and never guessed about.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import hashlib
import json
import re
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console
from rich.table import Table

from .._budget import Budget
from ..aclient import BFL_ACTIVE_TASK_LIMIT, AsyncFluxCanny
from ..errors import (
    BudgetExhaustedError,
    FluxCannyError,
    ImageInputError,
    LedgerError,
    RequestValidationError,
    SubmitUncertainError,
    clean,
)
from ..images import CheckedImageFile, check_image_file
from ..ledger import GONE, Claim, ClaimKind, Entry, Ledger, State, import_old_batch_file
from ..models import Task
from ..validation import default_validator
from ._exit import EXIT_ERROR, EXIT_INTERRUPTED, BadInput, one_line, outcome_word
from ._options import IMAGE_FIELD, ApiSettings, api_options, make_async_client, settings_from
from ._outputs import (
    ImageKept,
    extension_for,
    finish_kept,
    name_problem,
    probe_folder,
    requested_format,
    save_paid,
    space_problem,
)
from ._progress import BatchProgress, stderr_console, table_console

__all__ = ["batch"]

_NAME = re.compile(r"^[\w][\w.-]{0,127}$")


@attrs.frozen
class Job:
    line: int
    name: str
    fields: Mapping[str, Any]
    output: Path
    #: the request as the server would see it: every field and the image's bytes
    request_hash: str = ""
    #: a rough size of the image it will make, for the free-space check
    expected_bytes: int = 0
    #: its control image, checked once here; read again (not re-checked) when sent
    image: CheckedImageFile | None = None


@attrs.define
class Outcome:
    job: Job
    status: str  # ok, skipped, uncertain, changed, busy, kept, or a failure word
    task_id: str | None = None
    path: Path | None = None
    error: str | None = None


# -- reading and checking the jobs file ------------------------------------------------------


def _default_name(line: int, job: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()[:8]
    return f"{line:04d}-{digest}"


def _request_hash(body: Mapping[str, Any], image: bytes) -> str:
    """Fields and image bytes: a job whose prompt or picture changed is a changed job."""
    fields = {k: v for k, v in body.items() if k != IMAGE_FIELD}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode())
    digest.update(hashlib.sha256(image).digest())
    return digest.hexdigest()


def _check_job(line: int, raw: str, base: Path, out_dir: Path) -> tuple[Job | None, list[str]]:
    try:
        job = json.loads(raw)
    except json.JSONDecodeError as bad:
        return None, [f"line {line}: not JSON ({bad.msg})"]
    if not isinstance(job, dict):
        return None, [f"line {line}: a job is a JSON object, got {type(job).__name__}"]
    problems: list[str] = []
    name = job.pop("name", None) or _default_name(line, job)
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"line {line}: name {name!r} must be letters, digits, '.', '-', '_'")
    validator = default_validator()
    unknown = sorted(set(job) - validator.field_names)
    for field in unknown:
        close = difflib.get_close_matches(field, validator.field_names, 1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"line {line}: unknown field {field!r}{hint}")
    image = job.get(IMAGE_FIELD)
    data = b""
    pixels = 0
    checked: CheckedImageFile | None = None
    if not isinstance(image, str) or not image:
        problems.append(f"line {line}: {IMAGE_FIELD} must be the path of an image file")
    else:
        path = (base / image).resolve()
        try:
            checked, data = check_image_file(path)
            pixels = checked.info.width * checked.info.height
        except ImageInputError as unreadable:
            problems.append(f"line {line}: {unreadable}")
        job[IMAGE_FIELD] = str(path)
    params = {k: v for k, v in job.items() if k in validator.field_names}
    for error in validator.errors({**params, IMAGE_FIELD: ""}):
        where = ".".join(str(p) for p in error["loc"][1:]) or "body"
        problems.append(f"line {line}: {where}: {error['msg']}")
    if problems:
        return None, problems
    body = validator.normalise({**params, IMAGE_FIELD: ""})
    body[IMAGE_FIELD] = job[IMAGE_FIELD]
    fmt = requested_format(body)
    output = out_dir / f"{name}{extension_for(fmt)}"
    too_long = name_problem(output)
    if too_long is not None:
        return None, [f"line {line}: {too_long}"]
    return (
        Job(
            line=line,
            name=str(name),
            fields=body,
            output=output,
            request_hash=_request_hash(body, data),
            expected_bytes=pixels * (3 if fmt == "png" else 1),
            image=checked,
        ),
        [],
    )


def read_jobs(jobs_file: Path, out_dir: Path) -> tuple[list[Job], list[str]]:
    try:
        text = jobs_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"cannot read {jobs_file}: {one_line(error)}") from None
    jobs: list[Job] = []
    problems: list[str] = []
    names: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        job, found = _check_job(number, raw, jobs_file.parent, out_dir)
        problems += found
        if job is None:
            continue
        if job.name in names:
            problems.append(f"line {number}: name {job.name!r} is also on line {names[job.name]}")
            continue
        names[job.name] = number
        jobs.append(job)
    if not jobs and not problems:
        raise BadInput(f"{jobs_file} has no jobs")
    return jobs, problems


# -- running ---------------------------------------------------------------------------------

#: how long Ctrl-C / SIGTERM waits for submits in flight to answer, so their ids are kept
INTERRUPT_GRACE = 10.0


class _Runner:
    """Every job through the ledger: claimed, written ahead, resumed, never paid twice."""

    def __init__(
        self,
        settings: ApiSettings,
        ledger: Ledger,
        scope: str,
        progress: BatchProgress,
        *,
        concurrency: int,
        timeout: float,
        resubmit_uncertain: bool,
        regenerate_changed: bool,
        max_cost: float | None = None,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.scope = scope
        self.progress = progress
        self.concurrency = concurrency
        self.timeout = timeout
        self.resubmit_uncertain = resubmit_uncertain
        self.regenerate_changed = regenerate_changed
        self.max_cost = max_cost
        self.budget: Budget | None = None  # made in run(): it belongs to the event loop
        self.spent = 0.0
        self.new_tasks = 0
        self.outcomes: dict[str, Outcome] = {}
        self.stopping = False
        self.interrupted = False
        self._hurry = asyncio.Event()

    # -- one job ----------------------------------------------------------------------------------

    def _claim(self, job: Job) -> Claim:
        return self.ledger.claim(
            self.scope,
            job.name,
            request_hash=job.request_hash,
            base_url=self.settings.base_url,
            output=str(job.output.absolute()),
            prompt=job.fields.get("prompt"),
            finetune_id=job.fields.get("finetune_id"),
            resubmit_uncertain=self.resubmit_uncertain,
            regenerate_changed=self.regenerate_changed,
        )

    async def _job(self, flux: AsyncFluxCanny, slots: asyncio.Semaphore, job: Job) -> None:
        async with slots:
            if self.stopping:
                return
            outcome = await self._run_job(flux, job)
        self.outcomes[job.name] = outcome
        failed = None if outcome.status in _SETTLED else (outcome.error or outcome.status)
        self.progress.finished(job.name, failed, was_active=outcome.task_id is not None)

    async def _run_job(self, flux: AsyncFluxCanny, job: Job) -> Outcome:
        if job.output.exists():
            known = self.ledger.job(self.scope, job.name)
            if known is None or known.request_hash is None:
                return Outcome(job, "skipped", known.task_id if known else None, job.output)
        notes: list[str] = []
        for _ in range(2):  # a resumed task found gone is submitted afresh, once
            claim = self._claim(job)
            entry = claim.entry
            if claim.kind == ClaimKind.DONE:
                return Outcome(job, "skipped", entry.task_id, job.output)
            if claim.kind == ClaimKind.CHANGED:
                return Outcome(
                    job,
                    "changed",
                    entry.task_id,
                    job.output,
                    "the job's request differs from the one that made its image; "
                    "--regenerate-changed pays for a new one",
                )
            if claim.kind == ClaimKind.UNCERTAIN:
                return Outcome(
                    job,
                    "uncertain",
                    None,
                    None,
                    f"an earlier submit may have created a task ({entry.error}); check your "
                    "recent tasks, then rerun with --resubmit-uncertain to submit it again",
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
                return self._from_kept(job, entry)
            replaced = claim.replaced
            if claim.kind == ClaimKind.RESUME:
                assert entry.task_id is not None
                task = Task(id=entry.task_id, polling_url=entry.polling_url)
                self.progress.started()
            else:
                if replaced is not None and replaced.task_id and replaced.state in GONE:
                    notes.append(
                        f"its earlier task {replaced.task_id} is gone ({replaced.state}); "
                        "submitted again"
                    )
                try:
                    submitted = await self._submit(flux, job, claim)
                except FluxCannyError as error:
                    return Outcome(job, _submit_word(error), error.task_id, None, one_line(error))
                if submitted is None:
                    return Outcome(job, "not started")
                task = submitted
            overwrite = (
                replaced is not None
                and replaced.state == State.DOWNLOADED
                and replaced.output == str(job.output.absolute())
            )
            outcome = await self._finish(flux, job, task, overwrite=overwrite)
            gone = outcome.status in ("expired", "not found")
            if not (claim.kind == ClaimKind.RESUME and gone):
                outcome.error = "; ".join([*notes, *([outcome.error] if outcome.error else [])])
                outcome.error = outcome.error or None
                return outcome
            notes.append(f"resumed task {task.id} was gone ({outcome.status})")
        return outcome

    async def _submit(self, flux: AsyncFluxCanny, job: Job, claim: Claim) -> Task | None:
        try:
            image = job.image or Path(job.fields[IMAGE_FIELD])
            body = flux.prepare(**{**job.fields, IMAGE_FIELD: image})
        except BaseException:
            self.ledger.release(claim.entry.row)
            raise
        if self.stopping:
            self.ledger.release(claim.entry.row)
            return None
        submitting = flux.submit_prepared(body, claim=claim, budget=self.budget)  # shielded
        del body
        try:
            task = await submitting
        except BudgetExhaustedError:
            self.ledger.release(claim.entry.row)  # never sent
            raise
        self.new_tasks += 1
        self.spent += task.cost or 0.0
        self.progress.started()
        return task

    async def _finish(
        self, flux: AsyncFluxCanny, job: Job, task: Task, *, overwrite: bool
    ) -> Outcome:
        try:
            image = await flux.resume(task, timeout=self.timeout)
        except FluxCannyError as error:
            return Outcome(job, outcome_word(error), task.id, None, one_line(error))
        try:
            path = save_paid(image, job.output, self.ledger, overwrite=overwrite)
        except FileExistsError:
            return Outcome(
                job,
                "error",
                task.id,
                None,
                f"{job.output} appeared meanwhile; the image was not written over it "
                f"(`flux-canny result {task.id} -o OTHER` fetches it)",
            )
        except ImageKept as kept:
            return Outcome(job, "kept", task.id, kept.kept, kept.format_message())
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

    async def run(self, jobs: list[Job]) -> list[Outcome]:
        loop = asyncio.get_running_loop()
        self.budget = Budget(self.max_cost) if self.max_cost is not None else None
        async with make_async_client(
            self.settings, wait_timeout=self.timeout, ledger=self.ledger
        ) as flux:
            slots = asyncio.Semaphore(self.concurrency)
            everything = asyncio.ensure_future(
                asyncio.gather(*(self._job(flux, slots, job) for job in jobs))
            )
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
        return [self.outcomes.get(job.name) or self._unfinished(job) for job in jobs]

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
        if entry.task_id and entry.state in (State.SUBMITTED, State.READY):
            return Outcome(
                job,
                "interrupted",
                entry.task_id,
                None,
                "its task is recorded: run the same command again to resume it",
            )
        return Outcome(job, entry.state, entry.task_id, None, entry.error)


_SETTLED = frozenset({"ok", "skipped"})


def _submit_word(error: FluxCannyError) -> str:
    if isinstance(error, BudgetExhaustedError):
        return "over budget"
    if isinstance(error, SubmitUncertainError):
        return "uncertain"
    if isinstance(error, RequestValidationError | ImageInputError):
        return "invalid"
    return "rejected"


def _summary(outcomes: list[Outcome], *, as_json: bool) -> None:
    if as_json:
        for o in outcomes:
            record = {
                "name": o.job.name,
                "line": o.job.line,
                "status": o.status,
                "task_id": o.task_id,
                "path": str(o.path) if o.path else None,
                "error": o.error,
            }
            click.echo(json.dumps(record))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("job", "line", "status", "task id"):
        table.add_column(column, no_wrap=True)
    table.add_column("output / error", overflow="fold", min_width=30)
    shown = (
        outcomes
        if len(outcomes) <= 50
        else [o for o in outcomes if o.status not in ("ok", "skipped")]
    )
    for o in shown:
        detail = str(o.path) if o.path else (o.error or "")
        table.add_row(o.job.name, str(o.job.line), o.status, clean(o.task_id or ""), clean(detail))
    console = table_console()
    if shown:
        console.print(table)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())), markup=False)


@click.command(
    epilog="""\b
Jobs file: one JSON object per line, with the request fields of `generate`
(control_image as a path relative to the jobs file) and an optional "name"
for the output file, e.g.
  {"name": "castle", "control_image": "edges/castle.png", "prompt": "a castle",
   "finetune_id": "my-finetune", "steps": 30, "output_format": "png"}
\b
Examples:
  flux-canny batch jobs.jsonl -o out/
  flux-canny batch jobs.jsonl -o out/ --concurrency 8 --json > summary.jsonl
\b
Exit status: 0 when every job has its image, 1 when any job failed or is
uncertain, 2 when the jobs file or the output folder has problems (nothing is
submitted), 130 when interrupted."""
)
@click.argument("jobs_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for the images.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=BFL_ACTIVE_TASK_LIMIT,
    show_default=True,
    help="Active tasks at once (BFL allows 24 per key).",
)
@click.option(
    "--skip-invalid", is_flag=True, help="Run the valid jobs even if some lines have problems."
)
@click.option(
    "--resubmit-uncertain",
    is_flag=True,
    help="Submit again the jobs whose earlier submit may have created a task (it may be "
    "paid twice: check your recent tasks first).",
)
@click.option(
    "--regenerate-changed",
    is_flag=True,
    help="Pay for a new image for jobs whose request changed since their image was made.",
)
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    default=None,
    help="The most credits this run may spend; jobs past it are not submitted.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds to wait for each task.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON lines.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@api_options
def batch(
    jobs_file: Path,
    output_dir: Path,
    concurrency: int,
    skip_invalid: bool,
    resubmit_uncertain: bool,
    regenerate_changed: bool,
    max_cost: float | None,
    timeout: float,
    as_json: bool,
    quiet: bool,
    **values: Any,
) -> None:
    """Run every job in JOBS_FILE, writing each image into OUTPUT_DIR.

    A failing job does not stop the others. Every submit is written to the task ledger
    before it is sent, so rerunning the same command never pays twice for a job: it skips
    jobs whose image exists, resumes tasks already submitted (whatever stopped them), and
    reports submits whose answer never arrived as `uncertain` instead of guessing.
    Two runs on one folder share the work; neither submits a job the other has.
    """
    settings = settings_from(values)
    settings.key()  # a missing key is bad input, found before anything else
    if output_dir.exists() and not output_dir.is_dir():
        raise BadInput(f"{output_dir} is not a directory")
    jobs, problems = read_jobs(jobs_file, output_dir)
    console = stderr_console()
    if problems:
        for problem in problems:
            console.print(f"{jobs_file}:{problem.removeprefix('line ')}", markup=False)
        if not skip_invalid or not jobs:
            raise BadInput(
                f"{len(problems)} problem(s) in {jobs_file}; nothing was submitted "
                "(fix them, or pass --skip-invalid to run the valid jobs)"
            )
    unwritable = probe_folder(output_dir)
    if unwritable is not None:
        raise BadInput(f"{unwritable}; nothing was submitted")
    scope = str(output_dir.resolve())
    ledger = Ledger()
    try:
        import_old_batch_file(ledger, output_dir, scope)
        ledger.reap()
        todo = [job for job in jobs if not job.output.exists()]
        short = space_problem(output_dir, sum(job.expected_bytes for job in todo))
        if short is not None:
            raise BadInput(f"{short}; nothing was submitted")
        outcomes = _run(
            ledger,
            scope,
            jobs,
            settings,
            console,
            concurrency=concurrency,
            timeout=timeout,
            quiet=quiet,
            resubmit_uncertain=resubmit_uncertain,
            regenerate_changed=regenerate_changed,
            max_cost=max_cost,
        )
    except LedgerError as error:
        raise BadInput(f"{error}") from error
    finally:
        ledger.close()
    interrupted = any(o.status in ("interrupted", "not started") for o in outcomes)
    skipped = _invalid_lines(problems)  # shown, so the exit status below is explained
    outcomes = sorted([*outcomes, *skipped], key=lambda o: o.job.line)
    _summary(outcomes, as_json=as_json)
    if interrupted:
        _tell_interrupted(outcomes)
        raise SystemExit(EXIT_INTERRUPTED)
    if any(o.status not in _SETTLED for o in outcomes):
        raise SystemExit(EXIT_ERROR)


def _invalid_lines(problems: list[str]) -> list[Outcome]:
    """Lines --skip-invalid left out, one summary row each ("invalid", with why)."""
    said: dict[int, list[str]] = {}
    for problem in problems:
        number, _, why = problem.removeprefix("line ").partition(": ")
        said.setdefault(int(number), []).append(why)
    return [
        Outcome(
            Job(line=n, name=f"line-{n}", fields={}, output=Path()),
            "invalid",
            None,
            None,
            "; ".join(whys),
        )
        for n, whys in sorted(said.items())
    ]


def _run(
    ledger: Ledger,
    scope: str,
    jobs: list[Job],
    settings: ApiSettings,
    console: Console,
    *,
    concurrency: int,
    timeout: float,
    quiet: bool,
    resubmit_uncertain: bool,
    regenerate_changed: bool,
    max_cost: float | None,
) -> list[Outcome]:
    progress = BatchProgress(console, len(jobs), quiet=quiet)
    runner = _Runner(
        settings,
        ledger,
        scope,
        progress,
        concurrency=concurrency,
        timeout=timeout,
        resubmit_uncertain=resubmit_uncertain,
        regenerate_changed=regenerate_changed,
        max_cost=max_cost,
    )
    with progress:
        try:
            outcomes = asyncio.run(runner.run(jobs))
        except KeyboardInterrupt:  # no signal handlers (not the main thread): the rows say
            outcomes = [runner.outcomes.get(job.name) or runner._unfinished(job) for job in jobs]
    if runner.new_tasks:
        rate = runner.spent / runner.new_tasks
        each = f"; {rate:g} each" if runner.spent else ""
        left = sum(1 for o in outcomes if o.status == "over budget")
        rest = f"; the {left} job(s) left would cost about {left * rate:g} more" if left else ""
        console.print(
            f"spent {runner.spent:g} credits on {runner.new_tasks} new task(s){each}"
            + (f" (--max-cost {max_cost:g})" if max_cost is not None else "")
            + rest,
            markup=False,
        )
    return outcomes


def _tell_interrupted(outcomes: list[Outcome]) -> None:
    """The truth after Ctrl-C: what runs, what may exist, what never started."""
    running = sum(1 for o in outcomes if o.status == "interrupted")
    uncertain = sum(1 for o in outcomes if o.status == "uncertain")
    waiting = sum(1 for o in outcomes if o.status == "not started")
    parts = [
        f"{running} task(s) still running are recorded: run the same command again to "
        "resume them (they are not submitted again)"
    ]
    if uncertain:
        parts.append(
            f"{uncertain} submit(s) were cut short and may have created tasks: they are "
            "reported uncertain and not submitted again unless you pass --resubmit-uncertain"
        )
    if waiting:
        parts.append(f"{waiting} job(s) were not started")
    click.echo("flux-canny: interrupted; " + "; ".join(parts), err=True)
