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
import json
from collections.abc import Mapping
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
from ._batch_jobs import JobsCheck, Outcome, check_jobs, invalid_line
from ._batch_record import RecordedLedger
from ._batch_runner import Runner
from ._batch_spool import Spool
from ._exit import EXIT_ERROR, EXIT_INTERRUPTED, BadInput
from ._options import ApiSettings, api_options, settings_from
from ._outputs import (
    probe_folder,
    space_problem,
)
from ._progress import BatchProgress, stderr_console, table_console

__all__ = ["batch"]


def _summary(log: Spool, *, as_json: bool) -> None:
    if as_json:
        for line, name, status, task_id, path, error, endpoint in log.rows():
            record = {
                "name": name,
                "line": line,
                "endpoint": endpoint,
                "status": status,
                "task_id": task_id,
                "path": path,
                "error": error,
            }
            click.echo(json.dumps(record))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("job", "line", "endpoint", "status", "task id"):
        table.add_column(column, no_wrap=True)
    table.add_column("output / error", overflow="fold", min_width=30)
    shown = 0
    rows = log.rows(problems_only=len(log) > 50)
    for line, name, status, task_id, path, error, endpoint in rows:
        detail = path or error or ""
        cells = (name, str(line), endpoint or "", status, clean(task_id or ""), clean(detail))
        table.add_row(*cells)
        shown += 1
    console = table_console()
    if shown:
        console.print(table)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(log.counts.items()))
    console.print(counts, markup=False)


@click.command(
    epilog="""\b
Jobs file: one JSON object per line, with the request fields of its
"endpoint" (the canny finetune unless named; one file may mix endpoints), its
images (control_image, input_image, image, mask...) as paths relative to the
jobs file, and an optional "name" for the output file, e.g.
  {"name": "castle", "control_image": "edges/castle.png", "prompt": "a castle",
   "finetune_id": "my-finetune", "steps": 30, "output_format": "png"}
  {"endpoint": "flux-2-pro", "prompt": "the castle at night",
   "input_image": "castle.jpg", "input_image_2": "night.png"}
The 24 active tasks BFL allows per key are shared by every endpoint.
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
    "--resubmit-not-found",
    is_flag=True,
    help="Submit again the jobs whose task the server said it does not know (another key "
    "or region, or a result gone): without it they are looked for again, never paid for.",
)
@click.option(
    "--resubmit-expired",
    is_flag=True,
    help="Submit again the jobs whose image could not be downloaded before its URL "
    "expired: without it they are looked for again, never paid for.",
)
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    default=None,
    help="The most credits this run may spend; jobs past it are not submitted.",
)
@click.option(
    "--cost-per-task",
    type=click.FloatRange(min=0),
    default=None,
    help="The price of a task whose submit answer states no cost, for --max-cost to count "
    "(without it, such an answer stops further submits).",
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
    resubmit_not_found: bool,
    resubmit_expired: bool,
    max_cost: float | None,
    cost_per_task: float | None,
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
    with contextlib.closing(Spool()) as spool:
        checked = _check(spool, jobs_file, output_dir, skip_invalid=skip_invalid)
        scope = str(output_dir.resolve())
        ledger = RecordedLedger(output_dir, scope)
        try:
            import_old_batch_file(ledger, output_dir, scope)
            ledger.reap()
            ledger.adopt_record()
            _run(
                ledger,
                scope,
                spool,
                checked.jobs,
                settings,
                stderr_console(),
                concurrency=concurrency,
                timeout=timeout,
                quiet=quiet,
                pay_again={
                    "uncertain": resubmit_uncertain,
                    "changed": regenerate_changed,
                    "not_found": resubmit_not_found,
                    "expired": resubmit_expired,
                },
                max_cost=max_cost,
                cost_per_task=cost_per_task,
            )
        except LedgerError as error:
            raise BadInput(f"{error}") from error
        finally:
            ledger.close()
        _report(spool, checked.problems, as_json=as_json)


def _check(spool: Spool, jobs_file: Path, output_dir: Path, *, skip_invalid: bool) -> JobsCheck:
    """Every line, the output folder and the free space, before anything is submitted."""
    checked = check_jobs(jobs_file, output_dir, spool.add_job)
    problems = checked.problems
    console = stderr_console()
    if problems:
        for problem in problems:
            console.print(f"{jobs_file}:{problem.removeprefix('line ')}", markup=False)
        if not skip_invalid or not checked.jobs:
            raise BadInput(
                f"{len(problems)} problem(s) in {jobs_file}; nothing was submitted "
                "(fix them, or pass --skip-invalid to run the valid jobs)"
            )
    unwritable = probe_folder(output_dir)
    if unwritable is not None:
        raise BadInput(f"{unwritable}; nothing was submitted")
    short = space_problem(output_dir, checked.expected_bytes)
    if short is not None:
        raise BadInput(f"{short}; nothing was submitted")
    return checked


def _report(spool: Spool, problems: list[str], *, as_json: bool) -> None:
    """The summary, and the exit status it explains."""
    interrupted = bool(spool.counts["interrupted"] or spool.counts["not started"])
    for invalid in _invalid_lines(problems):  # shown, so the exit status is explained
        spool.add(invalid)
    _summary(spool, as_json=as_json)
    if interrupted:
        _tell_interrupted(spool)
        raise SystemExit(EXIT_INTERRUPTED)
    if not spool.all_settled():
        raise SystemExit(EXIT_ERROR)


def _invalid_lines(problems: list[str]) -> list[Outcome]:
    """Lines --skip-invalid left out, one summary row each ("invalid", with why)."""
    said: dict[int, list[str]] = {}
    for problem in problems:
        number, _, why = problem.removeprefix("line ").partition(": ")
        said.setdefault(int(number), []).append(why)
    return [invalid_line(n, "; ".join(whys)) for n, whys in sorted(said.items())]


def _run(
    ledger: Ledger,
    scope: str,
    spool: Spool,
    total: int,
    settings: ApiSettings,
    console: Console,
    *,
    concurrency: int,
    timeout: float,
    quiet: bool,
    pay_again: Mapping[str, bool],
    max_cost: float | None,
    cost_per_task: float | None,
) -> None:
    progress = BatchProgress(console, total, quiet=quiet)
    runner = Runner(
        settings,
        ledger,
        scope,
        spool,
        progress,
        concurrency=concurrency,
        timeout=timeout,
        pay_again=pay_again,
        max_cost=max_cost,
        cost_per_task=cost_per_task,
    )
    # KeyboardInterrupt: no signal handlers (not the main thread); the rows say the rest
    with progress, contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner.run(spool.jobs()))
    if len(spool) < total:  # interrupted: the rest are running, uncertain or unstarted
        runner.fill_unfinished(spool.jobs())
    if runner.new_tasks:
        spent = runner.spent
        # the rate of the tasks that stated their cost: an unstated one is not free
        stating = spent.tasks - spent.unstated
        rate = spent.stated / stating if stating else None
        each = f"; {rate:g} each" if rate and not spent.unstated else ""
        left = spool.counts["over budget"]
        rest = (
            f"; the {left} job(s) left would cost about {left * rate:g} more"
            if left and rate is not None
            else ""
        )
        console.print(
            f"spent {spent.said(cost_per_task)} on {runner.new_tasks} new task(s){each}"
            + (f" (--max-cost {max_cost:g})" if max_cost is not None else "")
            + rest,
            markup=False,
        )


def _tell_interrupted(log: Spool) -> None:
    """The truth after Ctrl-C: what runs, what may exist, what never started."""
    running = log.counts["interrupted"]
    uncertain = log.counts["uncertain"]
    waiting = log.counts["not started"]
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
