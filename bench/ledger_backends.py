"""The ledger's two backends side by side (issue 32), for `make bench`:

- a ledger write's latency, p50 and p99, on SQLite and on PostgreSQL over loopback: one
  writer alone, and three writing at once (three workers of a fleet; on SQLite, three
  processes on one machine);
- a 1,000-job batch run by three `flux-canny batch` workers sharing one PostgreSQL ledger
  against one fake whose key has 24 active tasks, against the cap-bound ideal
  ceil(N/24) x T (the goal: at most 1.10 x).

The PostgreSQL server is started for the run as the suite starts it (tests/_postgres.py);
without its binaries the PostgreSQL figures are left out, said so.

    python bench/ledger_backends.py        # this part alone
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _loopback_fake import loopback_fake  # bench/, the script's own folder

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the suite's server helper
    sys.path.insert(0, str(ROOT))

from tests._postgres import start_server  # noqa: E402

__all__ = ["render", "run"]

WRITES = int(os.environ.get("BENCH_LEDGER_WRITES", "1000"))  # per writer: four a job
FLEET_JOBS = int(os.environ.get("BENCH_FLEET_JOBS", "1000"))
FLEET_WORKERS = int(os.environ.get("BENCH_FLEET_WORKERS", "3"))
TASK_SECONDS = 0.5
CAP = 24


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _writer(target: str, worker: int, jobs: int, out: Any) -> None:
    """A job's writes as a batch makes them: claim, sending, submitted, ready, each timed."""
    from flux_canny.ledger import Ledger, State

    times: list[float] = []
    with Ledger(target) as ledger:
        ledger.entries(limit=1)  # opened (and, on PostgreSQL, its lease taken) untimed
        for i in range(jobs):
            started = time.perf_counter()
            claim = ledger.claim("bench", f"w{worker}-{i}", request_hash="h", base_url="b")
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
            row = ledger.sending(claim.entry.row, prompt="a castle")
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
            ledger.submitted(row, f"task-{worker}-{i}", None)
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
            ledger.task_state(f"task-{worker}-{i}", State.READY)
            times.append(time.perf_counter() - started)
    out.put(times)


def _writes(target: str, writers: int) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [
        context.Process(target=_writer, args=(target, w, WRITES // 4, out)) for w in range(writers)
    ]
    for worker in workers:
        worker.start()
    times = [t for _ in workers for t in out.get(timeout=600)]
    for worker in workers:
        worker.join(60)
    return {"p50_ms": _pct(times, 0.5) * 1e3, "p99_ms": _pct(times, 0.99) * 1e3}


def _fleet(
    url: str, workers: int = FLEET_WORKERS, task_seconds: float = TASK_SECONDS
) -> dict[str, Any]:
    """`workers` workers, one jobs file, one output folder, one fake: the makespan."""
    png = (ROOT / "wrapper/flux_canny/samples/castle-control.png").read_bytes()
    with loopback_fake(task_seconds) as base, tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "c.png").write_bytes(png)
        lines = (
            {"name": f"j{i}", "control_image": "c.png", "prompt": f"p{i}"}
            | {"finetune_id": "my-finetune"}
            for i in range(FLEET_JOBS)
        )
        (work / "jobs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
        command = [sys.executable, "-m", "flux_canny", "batch", str(work / "jobs.jsonl")]
        command += ["-o", str(work / "out"), "-q", "--json"]
        started = time.monotonic()
        running = [
            subprocess.Popen(
                command,
                env={
                    **os.environ,
                    "BFL_API_KEY": "test-key",
                    "BFL_BASE_URL": base,
                    "FLUX_CANNY_STATE_DIR": str(work / f"state{w}"),
                    "FLUX_CANNY_LEDGER": url,
                },
                cwd=work,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for w in range(workers)
        ]
        done = [w.communicate(timeout=1200)[0] for w in running]
        seconds = time.monotonic() - started
        images = len(list((work / "out").glob("j*.jpg")))
    statuses = [json.loads(line)["status"] for out in done for line in out.splitlines() if line]
    ideal = math.ceil(FLEET_JOBS / CAP) * task_seconds
    return {
        "jobs": FLEET_JOBS,
        "workers": workers,
        "task_seconds": task_seconds,
        "makespan": seconds,
        "ideal": ideal,
        "ratio": seconds / ideal if ideal else math.inf,
        "images": images,
        "ok_per_worker": [out.count('"status": "ok"') for out in done],
        "not_settled": sum(1 for s in statuses if s not in ("ok", "skipped")),
    }


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        for writers in (1, FLEET_WORKERS):
            path = str(Path(folder) / f"ledger-{writers}.sqlite3")
            results[f"sqlite_{writers}"] = _writes(path, writers)
    with start_server(durable=True) as server:
        if server is None:
            results["postgresql"] = "not measured: PostgreSQL's server binaries are not installed"
            return results
        for writers in (1, FLEET_WORKERS):
            results[f"postgresql_{writers}"] = _writes(server.database(), writers)
        results["fleet"] = _fleet(server.database())
        # the floor: the same run with tasks that take no time, all CPU (the fake drawing
        # each sample, three workers, the database) on this machine's cores; where it is
        # above the cap-bound ideal, the ideal cannot be met here and the floor is the bound
        floor = _fleet(server.database(), task_seconds=0.0)["makespan"]
        fleet = results["fleet"]
        fleet["floor_makespan"] = floor
        fleet["bound"] = max(fleet["ideal"], floor)
        fleet["against_bound"] = fleet["makespan"] / fleet["bound"]
    with tempfile.TemporaryDirectory() as folder:  # the same jobs, one worker, its own SQLite
        one = _fleet(str(Path(folder) / "ledger.sqlite3"), workers=1)
    results["fleet"]["one_sqlite_makespan"] = one["makespan"]
    results["fleet"]["against_one_sqlite"] = results["fleet"]["makespan"] / one["makespan"]
    return results


def render(results: dict[str, Any]) -> str:
    lines = [
        "| ledger write | writers | p50 | p99 |",
        "| --- | --- | --- | --- |",
    ]
    for backend in ("sqlite", "postgresql"):
        for writers in (1, FLEET_WORKERS):
            row = results.get(f"{backend}_{writers}")
            if isinstance(row, dict):
                lines.append(
                    f"| {backend} | {writers} | {row['p50_ms']:.2f} ms | {row['p99_ms']:.2f} ms |"
                )
    fleet = results.get("fleet")
    if isinstance(fleet, dict):
        lines += [
            "",
            f"fleet: {fleet['jobs']} jobs on {fleet['workers']} workers sharing one PostgreSQL "
            f"ledger, tasks of {fleet['task_seconds']} s: {fleet['makespan']:.1f} s against the "
            f"cap-bound {fleet['ideal']:.1f} s = {fleet['ratio']:.2f} x (goal <= 1.10); the "
            f"floor here (tasks of 0 s, all CPU) {fleet['floor_makespan']:.1f} s, so against "
            f"max(ideal, floor) {fleet['against_bound']:.2f} x; "
            f"one worker on SQLite in this run {fleet['one_sqlite_makespan']:.1f} s "
            f"(fleet / one = {fleet['against_one_sqlite']:.2f}); ok per worker "
            f"{fleet['ok_per_worker']}, not settled {fleet['not_settled']}",
        ]
    elif "postgresql" in results:
        lines.append(str(results["postgresql"]))
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(run()))
