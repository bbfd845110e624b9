"""`batch`: many generations from a JSON-lines file, resumable, under the task cap.

Every job is checked before the first submit, so a typo on line 900 costs nothing. Each
submitted task id is written to a state file in the output folder at once; a rerun
skips jobs whose image exists and resumes tasks already submitted instead of paying for
them again.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console
from rich.table import Table

from ..aclient import BFL_ACTIVE_TASK_LIMIT
from ..errors import ImageInputError, SampleExpiredError, TaskNotFoundError
from ..images import GeneratedImage, inspect_image, read_image_file
from ..journal import Journal
from ..models import Task
from ..validation import default_validator
from ._exit import EXIT_ERROR, EXIT_INTERRUPTED, BadInput, one_line, outcome_word
from ._options import IMAGE_FIELD, ApiSettings, api_options, make_async_client, settings_from
from ._outputs import extension_for, requested_format
from ._progress import BatchProgress, stderr_console

__all__ = ["batch"]

STATE_FILE = ".flux-canny-batch.jsonl"
_NAME = re.compile(r"^[\w][\w.-]{0,127}$")
_FINAL_FAILURES = frozenset({"moderated", "failed", "error"})


@attrs.frozen
class Job:
    line: int
    name: str
    fields: Mapping[str, Any]
    output: Path
    #: a task submitted by an earlier run, to resume rather than pay for again
    resume: Task | None = None


@attrs.define
class Outcome:
    job: Job
    status: str  # ok, skipped, or a failure word (moderated, failed, timeout...)
    task_id: str | None = None
    path: Path | None = None
    error: str | None = None


# -- reading and checking the jobs file ------------------------------------------------------


def _default_name(line: int, job: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()[:8]
    return f"{line:04d}-{digest}"


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
    if not isinstance(image, str) or not image:
        problems.append(f"line {line}: {IMAGE_FIELD} must be the path of an image file")
    else:
        path = (base / image).resolve()
        try:
            inspect_image(read_image_file(path))
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
    output = out_dir / f"{name}{extension_for(requested_format(body))}"
    return Job(line=line, name=str(name), fields=body, output=output), []


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


# -- the state file: which task each job became ------------------------------------------------


class BatchState:
    """Append-only JSON lines in the output folder: job name → task, and outcomes."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / STATE_FILE

    def load(self) -> dict[str, dict[str, Any]]:
        known: dict[str, dict[str, Any]] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return known
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # cut short by a crash
            if isinstance(record, dict) and isinstance(record.get("name"), str):
                known.setdefault(record["name"], {}).update(record)
        return known

    def append(self, **record: Any) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)


def _plan(jobs: list[Job], state: BatchState) -> tuple[list[Job], list[Outcome]]:
    """Jobs to run (resuming known tasks) and jobs already done."""
    known = state.load()
    to_run: list[Job] = []
    skipped: list[Outcome] = []
    for job in jobs:
        record = known.get(job.name, {})
        if job.output.exists():
            skipped.append(Outcome(job, "skipped", record.get("task_id"), job.output))
            continue
        task_id = record.get("task_id")
        status = record.get("status", "submitted")
        if task_id and status not in _FINAL_FAILURES and status != "stale":
            job = attrs.evolve(job, resume=Task(id=task_id, polling_url=record.get("polling_url")))
        to_run.append(job)
    return to_run, skipped


# -- running ---------------------------------------------------------------------------------


class _Runner:
    def __init__(
        self,
        settings: ApiSettings,
        state: BatchState,
        progress: BatchProgress,
        *,
        concurrency: int,
        timeout: float,
    ) -> None:
        self.settings = settings
        self.state = state
        self.progress = progress
        self.concurrency = concurrency
        self.timeout = timeout
        # the batch state file holds the task ids too: a journal failure is ignored
        self.journal = Journal(on_error=lambda error: None)
        self.task_ids: dict[str, str] = {}

    def _submitted(self, job: Job, task: Task) -> None:
        self.task_ids[job.name] = task.id
        self.state.append(
            name=job.name,
            task_id=task.id,
            polling_url=task.polling_url,
            base_url=self.settings.base_url,
            status="submitted",
        )
        self.journal.record_submit(
            task.id,
            polling_url=task.polling_url,
            base_url=self.settings.base_url,
            prompt=job.fields.get("prompt"),
            finetune_id=job.fields.get("finetune_id"),
            output=job.output,
        )
        self.progress.started()

    def _finish(self, job: Job, outcome: GeneratedImage | Exception) -> Outcome:
        task_id = job.resume.id if job.resume else self.task_ids.get(job.name)
        if isinstance(outcome, GeneratedImage):
            try:
                path = outcome.save(job.output, overwrite=False)
            except OSError as error:
                outcome = error
            else:
                self.state.append(name=job.name, task_id=task_id, status="ready")
                if task_id:
                    self.journal.record_outcome(task_id, "ready", output=path.resolve())
                self.progress.finished(job.name, None)
                return Outcome(job, "ok", task_id, path)
        task_id = task_id or getattr(outcome, "task_id", None)
        status = outcome_word(outcome)
        if job.resume is not None and isinstance(outcome, SampleExpiredError | TaskNotFoundError):
            status = "stale"  # the old task cannot be fetched any more: submit afresh
        self.state.append(name=job.name, task_id=task_id, status=status, error=one_line(outcome))
        if task_id:
            self.journal.record_outcome(task_id, status, error=one_line(outcome))
        was_active = task_id is not None
        self.progress.finished(job.name, one_line(outcome), was_active=was_active)
        return Outcome(job, status, task_id, None, one_line(outcome))

    async def run(self, jobs: list[Job]) -> list[Outcome]:
        outcomes: dict[str, Outcome] = {}
        async with make_async_client(self.settings, wait_timeout=self.timeout) as flux:
            for job in jobs:
                if job.resume is not None:
                    self.progress.started()
            pending = jobs
            while pending:
                requests = [
                    {"task": job.resume, "timeout": self.timeout}
                    if job.resume is not None
                    else {
                        **job.fields,
                        "control_image": Path(job.fields[IMAGE_FIELD]),
                        "timeout": self.timeout,
                    }
                    for job in pending
                ]

                def submitted(index: int, task: Task, batch: list[Job] = pending) -> None:
                    self._submitted(batch[index], task)

                async for index, outcome in flux.iter_many(
                    requests, concurrency=self.concurrency, on_submit=submitted
                ):
                    outcomes[pending[index].name] = self._finish(pending[index], outcome)
                pending = [
                    attrs.evolve(o.job, resume=None)
                    for o in outcomes.values()
                    if o.status == "stale" and o.job.resume is not None
                ]
                self.progress.total += len(pending)
        return [outcomes[job.name] for job in jobs]


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
    for column in ("job", "line", "status", "task id", "output / error"):
        table.add_column(column, overflow="fold")
    shown = (
        outcomes
        if len(outcomes) <= 50
        else [o for o in outcomes if o.status not in ("ok", "skipped")]
    )
    for o in shown:
        detail = str(o.path) if o.path else (o.error or "")
        table.add_row(o.job.name, str(o.job.line), o.status, o.task_id or "", detail)
    console = Console(soft_wrap=True, highlight=False)
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
Exit status: 0 when every job has its image, 1 when any job failed, 2 when the
jobs file has problems (nothing is submitted), 130 when interrupted."""
)
@click.argument("jobs_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for the images (and the batch's state file).",
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
    timeout: float,
    as_json: bool,
    quiet: bool,
    **values: Any,
) -> None:
    """Run every job in JOBS_FILE, writing each image into OUTPUT_DIR.

    A failing job does not stop the others. Rerunning the same command skips jobs whose
    image exists and resumes tasks that were submitted but not downloaded, so an
    interrupted batch never pays twice for a job.
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
    output_dir.mkdir(parents=True, exist_ok=True)
    state = BatchState(output_dir)
    to_run, skipped = _plan(jobs, state)
    if skipped and not quiet:
        console.print(
            f"{len(skipped)} job(s) already have their image; skipping them", markup=False
        )
    resumed = sum(1 for job in to_run if job.resume is not None)
    if resumed and not quiet:
        console.print(f"resuming {resumed} task(s) submitted by an earlier run", markup=False)
    progress = BatchProgress(console, len(to_run), quiet=quiet)
    runner = _Runner(settings, state, progress, concurrency=concurrency, timeout=timeout)
    try:
        with progress:
            ran = asyncio.run(runner.run(to_run)) if to_run else []
    except KeyboardInterrupt:
        click.echo(
            f"flux-canny: interrupted; {progress.active} task(s) still running are recorded in "
            f"{state.path}. Run the same command again to resume them (nothing is submitted twice)",
            err=True,
        )
        raise SystemExit(EXIT_INTERRUPTED) from None
    order = {job.name: i for i, job in enumerate(jobs)}
    outcomes = sorted([*skipped, *ran], key=lambda o: order[o.job.name])
    _summary(outcomes, as_json=as_json)
    if any(o.status not in ("ok", "skipped") for o in outcomes) or (problems and skip_invalid):
        raise SystemExit(EXIT_ERROR)
