"""`batch`: many generations from a JSON-lines file, resumable, under the task cap.

Every job is checked before the first submit, so a typo on line 900 costs nothing, and so
is the output folder (writable, names within limits, room for the images). Each job goes
through the ledger (`flux_canny.ledger`): claimed in a transaction, written down before
its POST, resumed rather than paid for again on any rerun. A job whose submit may have
created a task without telling us is reported `uncertain` and never guessed about.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..aclient import BFL_ACTIVE_TASK_LIMIT
from ..errors import (
    LedgerError,
    clean,
)
from ..ledger import Ledger, import_old_batch_file
from ._batch_jobs import SETTLED, Job, Outcome, read_jobs
from ._batch_runner import Runner
from ._exit import EXIT_ERROR, EXIT_INTERRUPTED, BadInput
from ._options import ApiSettings, api_options, settings_from
from ._outputs import (
    probe_folder,
    space_problem,
)
from ._progress import BatchProgress, stderr_console, table_console

__all__ = ["batch"]


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
    if any(o.status not in SETTLED for o in outcomes):
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
    runner = Runner(
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
