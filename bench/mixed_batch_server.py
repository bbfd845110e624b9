"""A mixed batch against `mock-server` (issue 30): the real `flux-canny batch` in a process
of its own, against the fake on loopback in another, in real time.

mixed_batch.py runs the library against the in-process fake on a virtual clock; this leg
runs what a user runs: the CLI, its start-up, HTTP on loopback and the scheduler of a
shared machine included. The server process gives each endpoint's tasks the jobs'
durations in submit order (mixed_batch's `_Queued`) and watches every answer it sends:
tasks created, polls per task, and the delay from a task's end (its created_at + duration,
on the server's clock) to the first poll that saw it Ready. It writes those figures when
the bench closes its stdin. The fixed 1 s poller is not run here: it polls at 1, 2, 3 ... s
after its submit, so from the same durations it takes ceil(d) polls and sees Ready
ceil(d) - d late, which the row computes.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from flux_canny.fake import FakeBFL, FakeServer
from mixed_batch import CAP, KEY, MIX, SPREAD, _jobs, _serve, ideal_makespan

SIZES = (250, 1000)
SEED = 7
RESULT_PATH = "/v1/get_result"

#: runs the CLI from a small process, so that its ru_maxrss is the CLI's own peak (a child
#: forked from a large parent counts the parent's pages until its exec)
_MEASURED = """
import json, resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.monotonic() - started
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"makespan": seconds, "code": done.returncode, "maxrss_kib": used.ru_maxrss,
                  "cpu": used.ru_utime + used.ru_stime, "out": done.stdout,
                  "err": done.stderr[-2000:]}))
"""


class _Watch:
    """The server's view of the batch, from each answer it sends (FakeBFL.on_answer, called
    under the fake's lock)."""

    def __init__(self, fake: FakeBFL) -> None:
        self.fake = fake
        self.endpoint: dict[str, str] = {}
        self.ends: dict[str, float] = {}
        self.durations: dict[str, list[float]] = defaultdict(list)
        self.polls: Counter[str] = Counter()
        self.seen: dict[str, float] = {}
        self.rate_limited = 0
        self.first_created = math.inf

    def answered(self, record: Any, response: httpx.Response) -> None:
        if record.status == 429:
            self.rate_limited += 1
        elif record.path == RESULT_PATH and record.task_id in self.ends:
            task = record.task_id
            self.polls[task] += 1
            if task not in self.seen and response.json().get("status") == "Ready":
                self.seen[task] = self.fake.clock.monotonic()
        elif record.method == "POST" and record.task_id in self.fake.tasks:
            held = self.fake.tasks[record.task_id]
            self.endpoint[held.id] = held.operation
            self.ends[held.id] = held.created_at + held.duration
            self.durations[held.operation].append(held.duration)
            self.first_created = min(self.first_created, held.created_at)

    def stats(self) -> dict[str, Any]:
        per: dict[str, list[str]] = {name: [] for name in MIX}
        for task, name in self.endpoint.items():
            per[name].append(task)
        return {
            "tasks_created": len(self.endpoint),
            "rate_limited": self.rate_limited,
            "served_span": max(self.seen.values(), default=math.nan) - self.first_created,
            "endpoints": {
                name: {
                    "tasks": len(tasks),
                    "durations": self.durations[name],
                    "polls": [self.polls[t] for t in tasks],
                    "ready_to_seen": [self.seen[t] - self.ends[t] for t in tasks if t in self.seen],
                }
                for name, tasks in per.items()
            },
        }


def serve(count: int, seed: int, scale: float) -> None:
    """The server process: the fake on loopback, its base URL on stdout, and after the
    bench closes stdin, the watch's figures as one JSON line."""
    fake = FakeBFL(api_keys=[KEY], max_active_tasks=CAP, report_progress=False)
    _, queued = _serve(fake, [(name, d * scale) for name, d in _jobs(count, seed)])
    watch = _Watch(fake)
    fake.on_answer = watch.answered
    with FakeServer(fake) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()
    left = sum(len(q) for q in queued.queues.values())
    requests: Counter[str] = Counter()
    for (method, path), n in fake.requests.items():  # downloads under one name
        requests[f"{method} {'/results/…' if path.startswith('/results/') else path}"] += n
    print(json.dumps({**watch.stats(), "left": left, "requests": requests}))


def _leg(count: int, work: Path, *, seed: int = SEED, scale: float = 1.0) -> dict[str, Any]:
    """One batch of `count` jobs: the server's figures and the CLI's, unreduced."""
    jobs = [(name, d * scale) for name, d in _jobs(count, seed)]
    lines = (
        {"name": f"j{i}", "endpoint": name, "prompt": f"job {i}", "seed": i}
        for i, (name, _) in enumerate(jobs)
    )
    (work / "jobs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(count), str(seed), str(scale)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    try:
        base = server.stdout.readline().strip()
        env = {
            **os.environ,
            "BFL_API_KEY": KEY,
            "BFL_BASE_URL": base,
            "FLUX_CANNY_STATE_DIR": str(work / "state"),
        }
        batch = [sys.executable, "-m", "flux_canny", "batch", "jobs.jsonl", "-o", "out", "-q"]
        ran = subprocess.run(
            [sys.executable, "-c", _MEASURED, *batch, "--json"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=work,
        )
        stats = json.loads(server.communicate("", timeout=30)[0])
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    client = json.loads(ran.stdout)
    if client["code"] != 0:
        raise RuntimeError(f"flux-canny batch exited {client['code']}: {client['err']}")
    return {"jobs": jobs, "server": stats, "client": client}


def _fixed_1s(durations: list[float]) -> tuple[float, float]:
    """A fixed 1 s poller's polls per task and p50 Ready -> seen, from the durations."""
    return (
        statistics.fmean(math.ceil(d) for d in durations),
        statistics.median(math.ceil(d) - d for d in durations),
    )


def _size_row(leg: dict[str, Any]) -> dict[str, Any]:
    jobs, stats, client = leg["jobs"], leg["server"], leg["client"]
    count = len(jobs)
    handed = {name: e["durations"] for name, e in stats["endpoints"].items()}
    asked = {name: [d for n, d in jobs if n == name] for name in MIX}
    if stats["left"] or stats["tasks_created"] != count or handed != asked:
        # the fake took another duration than the jobs' (its knobs moved): no figure holds
        raise RuntimeError("the server's tasks did not take the jobs' durations")
    ideal = ideal_makespan([d for _, d in jobs])
    endpoints = {}
    for name, e in stats["endpoints"].items():
        polls = statistics.fmean(e["polls"])
        fixed_polls, fixed_p50 = _fixed_1s(e["durations"])
        endpoints[name] = {
            "tasks": e["tasks"],
            "polls_per_task": polls,
            "p50_ready_to_seen": statistics.median(e["ready_to_seen"]),
            "p95_ready_to_seen": statistics.quantiles(e["ready_to_seen"], n=20)[-1],
            "fixed_1s_polls_per_task": fixed_polls,
            "polls_ratio": polls / fixed_polls,
            "fixed_1s_p50": fixed_p50,
        }
    return {
        "jobs": count,
        "makespan": client["makespan"],
        "served_span": stats["served_span"],
        "ideal": ideal,
        "makespan_ratio": client["makespan"] / ideal,
        "served_span_ratio": stats["served_span"] / ideal,
        "ideal_longest_first": ideal_makespan([d for _, d in jobs], in_order=False),
        "rate_limited": stats["rate_limited"],
        "cpu_ms_per_task": client["cpu"] * 1000 / count,
        "maxrss_kib": client["maxrss_kib"],
        "requests": stats["requests"],
        "endpoints": endpoints,
    }


def mixed_batch_server(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    """The row of bench/results.json's "mixed_batch_server": each size's figures, and the
    CLI's CPU per task and peak memory from the smallest to the largest."""
    rows = {}
    for count in sizes:
        with tempfile.TemporaryDirectory(prefix="flux-canny-mixed-") as folder:
            rows[count] = _size_row(_leg(count, Path(folder)))
    small, large = rows[min(sizes)], rows[max(sizes)]
    return {
        "mix": {name: f"{seconds:g} s ±{SPREAD:.0%}" for name, seconds in MIX.items()},
        "cap": CAP,
        "sizes": rows,
        "cpu_growth": large["cpu_ms_per_task"] / small["cpu_ms_per_task"],
        "memory_growth": large["maxrss_kib"] / small["maxrss_kib"],
    }


def render_mixed_server(row: dict[str, Any]) -> list[str]:
    """The table `make bench` prints for a mixed batch on mock-server."""
    sizes = row["sizes"]
    order = sorted(sizes, key=int)
    small, large = sizes[order[0]], sizes[order[-1]]
    mix = ", ".join(f"{name} {said}" for name, said in row["mix"].items())
    n, m = f"{large['jobs']:,}", f"{small['jobs']:,}"
    return [
        "",
        f"| mixed batch on mock-server, `flux-canny batch`: {n} jobs of {mix}, cap {row['cap']} "
        "| figure | baseline | ratio |",
        "| --- | --- | --- | --- |",
        f"| makespan, wall clock (CLI start-up included) | {large['makespan']:.1f} s "
        f"| ideal in the jobs' order {large['ideal']:.1f} s | {large['makespan_ratio']:.3f} "
        f"({m} jobs: {small['makespan_ratio']:.3f}; 429s: {large['rate_limited']}) |",
        f"| makespan, first submit → last Ready seen (server's clock) "
        f"| {large['served_span']:.1f} s | ideal {large['ideal']:.1f} s "
        f"| {large['served_span_ratio']:.3f} ({m} jobs: {small['served_span_ratio']:.3f}) |",
        *(
            f"| {name}: polls per task, p50 Ready → seen | {e['polls_per_task']:.2f}, "
            f"{e['p50_ready_to_seen'] * 1000:.0f} ms | fixed 1 s poller, computed (ceil(d) polls, "
            f"ceil(d) − d late): {e['fixed_1s_polls_per_task']:.2f}, "
            f"{e['fixed_1s_p50'] * 1000:.0f} ms | {e['polls_ratio']:.2f} |"
            for name, e in large["endpoints"].items()
        ),
        f"| CLI CPU per task (start-up included) | {large['cpu_ms_per_task']:.2f} ms at {n} "
        f"| {small['cpu_ms_per_task']:.2f} ms at {m} | {row['cpu_growth']:.2f} |",
        f"| CLI peak memory (ru_maxrss) | {large['maxrss_kib'] / 1024:.0f} MiB at {n} "
        f"| {small['maxrss_kib'] / 1024:.0f} MiB at {m} | {row['memory_growth']:.2f} |",
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        result = mixed_batch_server(tuple(int(n) for n in sys.argv[1:]) or SIZES)
        print(json.dumps(result, indent=2))
        print("\n".join(render_mixed_server(result)), file=sys.stderr)
