"""A mixed batch (issue 30): jobs over three endpoints whose tasks take 1 s, 5 s and 12 s
(±8 %), at most 24 active, against the in-process fake on an event-driven virtual clock.

Figures, as ratios measured in the same run: the makespan against the ideal for that mix
under the cap, polls per task against a fixed 1 s poller's, the p50 latency from Ready to
the poll that saw it on each endpoint, and the client's CPU per task at 100 and at 1,000
jobs. The fake's own `VirtualClock` advances on every sleep, so 24 sleepers at once would
run time 24 times too fast; `EventClock` wakes sleepers in time order instead, advancing
only when every coroutine is waiting on it, as a discrete-event simulation does.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import statistics
import time
from collections import deque
from typing import Any

from flux_canny import AsyncFluxCanny, PollPolicy
from flux_canny.fake import FakeBFL

#: the three endpoints and their tasks' mean seconds
MIX = {"flux-2-klein-4b": 1.0, "flux-2-pro": 5.0, "flux-pro-1.1-ultra": 12.0}
SPREAD = 0.08
CAP = 24
KEY = "test-key"


class EventClock:
    """flux_canny.Clock for one event loop: a sleep wakes when the clock reaches its end,
    and the clock jumps to the next wake-up only when nothing else can run."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._wakes: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    async def asleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._wakes, (self._now + max(0.0, seconds), next(self._order), woken))
        await woken

    async def drive(self, finished: asyncio.Event) -> None:
        """Advance time whenever the loop has nothing ready but sleepers (asyncio's ready
        queue, read directly: a bench's liberty)."""
        loop: Any = asyncio.get_running_loop()
        while not finished.is_set():
            await asyncio.sleep(0)
            if loop._ready or not self._wakes:
                continue
            when = self._wakes[0][0]
            self._now = max(self._now, when)
            while self._wakes and self._wakes[0][0] <= self._now:
                _, _, woken = heapq.heappop(self._wakes)
                if not woken.done():
                    woken.set_result(None)


def _jobs(count: int, seed: int) -> list[tuple[str, float]]:
    """(endpoint, duration) per job, the endpoints in turn, each duration ±8 %."""
    draw = random.Random(seed)
    names = [list(MIX)[i % len(MIX)] for i in range(count)]
    return [(name, MIX[name] * draw.uniform(1 - SPREAD, 1 + SPREAD)) for name in names]


class _Queued(dict[str, float]):
    """The fake's per-operation durations, read once per task it creates: each read takes
    the next job's duration of that endpoint, in submit order (a 429 creates no task, so
    reads none)."""

    def __init__(self, queues: dict[str, deque[float]]) -> None:
        super().__init__(dict.fromkeys(queues, 0.0))
        self.queues = queues

    def get(self, name: str, default: Any = None) -> Any:
        return self.queues[name].popleft()


def _serve(fake: FakeBFL, jobs: list[tuple[str, float]]) -> tuple[list[float], _Queued]:
    """Make each endpoint's tasks take the jobs' durations, in submit order (the fake
    counts a task active until its own end), and count the fake's CPU, which is not the
    client's; the list holds that CPU's seconds."""
    durations: dict[str, deque[float]] = {name: deque() for name in MIX}
    for name, duration in jobs:
        durations[name].append(duration)
    queued = _Queued(durations)
    fake.durations = queued
    spent = [0.0]
    handle = fake.handle

    def timed(request: Any) -> Any:
        started = time.process_time()
        try:
            return handle(request)
        finally:
            spent[0] += time.process_time() - started

    fake.handle = timed  # type: ignore[method-assign]
    return spent, queued


def ideal_makespan(durations: list[float], cap: int = CAP, *, in_order: bool = True) -> float:
    """The tasks on `cap` slots, each seen the instant it ends and its slot refilled at
    once: in the jobs' order (the client's own schedule, without its polling), or
    longest first (the best any order could do)."""
    slots = [0.0] * cap
    for duration in durations if in_order else sorted(durations, reverse=True):
        heapq.heapreplace(slots, slots[0] + duration)
    return max(slots)


async def _run(count: int, policy: PollPolicy, seed: int = 7) -> dict[str, Any]:
    clock = EventClock()
    fake = FakeBFL(clock=clock, max_active_tasks=CAP, report_progress=False)
    jobs = _jobs(count, seed)
    fake_cpu, queued = _serve(fake, jobs)
    seen: dict[str, list[float]] = {name: [] for name in MIX}
    polls: dict[str, int] = dict.fromkeys(MIX, 0)
    slots = asyncio.Semaphore(CAP)
    finished = asyncio.Event()

    async with AsyncFluxCanny(
        api_key=KEY, transport=fake.transport(), clock=clock, poll=policy, ledger=False
    ) as flux:
        generate: Any = flux.generate

        async def one(index: int, endpoint: str) -> None:
            ready_at: list[float] = []

            def submitted(task: Any) -> None:
                held = fake.tasks[task.id]
                ready_at.append(held.created_at + held.duration)

            def update(result: Any) -> None:
                polls[endpoint] += 1
                if result.is_ready:
                    seen[endpoint].append(clock.monotonic() - ready_at[0])

            async with slots:
                await generate(
                    endpoint=endpoint,
                    prompt=f"job {index}",
                    seed=index,
                    on_submit=submitted,
                    on_update=update,
                    timeout=600,
                )

        started, cpu = clock.monotonic(), time.process_time()
        driver = asyncio.ensure_future(clock.drive(finished))
        try:
            await asyncio.gather(*(one(i, endpoint) for i, (endpoint, _) in enumerate(jobs)))
        finally:
            finished.set()
            await driver
        makespan, cpu = clock.monotonic() - started, time.process_time() - cpu
    if any(queued.queues.values()) or sum(fake.tasks_created.values()) != count:
        # the fake took another duration than the jobs' (its knobs moved): no figure holds
        raise RuntimeError("the fake's tasks did not take the jobs' durations")
    per = {name: sum(1 for e, _ in jobs if e == name) for name in MIX}
    return {
        "jobs": count,
        "makespan": makespan,
        "ideal": ideal_makespan([d for _, d in jobs]),
        "ideal_longest_first": ideal_makespan([d for _, d in jobs], in_order=False),
        "cpu_ms_per_task": (cpu - fake_cpu[0]) * 1000 / count,
        "fake_cpu_ms_per_task": fake_cpu[0] * 1000 / count,
        "rate_limited": sum(1 for r in fake.records if r.status == 429),
        "endpoints": {
            name: {
                "polls_per_task": polls[name] / per[name],
                "p50_ready_to_seen": statistics.median(seen[name]),
            }
            for name in MIX
        },
    }


def mixed_batch(count: int = 1000, small: int = 100) -> dict[str, Any]:
    """The rows of bench/results.json's "mixed_batch"."""
    learned = asyncio.run(_run(count, PollPolicy()))
    fixed = asyncio.run(_run(count, PollPolicy.fixed(1.0)))
    few = asyncio.run(_run(small, PollPolicy()))
    return {
        "mix": {name: f"{seconds:g} s ±{SPREAD:.0%}" for name, seconds in MIX.items()},
        "cap": CAP,
        "jobs": count,
        "makespan": learned["makespan"],
        "ideal": learned["ideal"],
        "makespan_ratio": learned["makespan"] / learned["ideal"],
        "ideal_longest_first": learned["ideal_longest_first"],
        "longest_first_ratio": learned["makespan"] / learned["ideal_longest_first"],
        "fixed_1s_makespan_ratio": fixed["makespan"] / fixed["ideal"],
        "rate_limited": learned["rate_limited"] + fixed["rate_limited"],
        "endpoints": {
            name: {
                **row,
                "fixed_1s_polls_per_task": fixed["endpoints"][name]["polls_per_task"],
                "polls_ratio": row["polls_per_task"] / fixed["endpoints"][name]["polls_per_task"],
                "fixed_1s_p50": fixed["endpoints"][name]["p50_ready_to_seen"],
            }
            for name, row in learned["endpoints"].items()
        },
        "cpu_ms_per_task": {small: few["cpu_ms_per_task"], count: learned["cpu_ms_per_task"]},
        "cpu_growth": learned["cpu_ms_per_task"] / few["cpu_ms_per_task"],
    }


def render_mixed(row: dict[str, Any]) -> list[str]:
    """The table `make bench` prints for a mixed batch."""
    mix = ", ".join(f"{name} {said}" for name, said in row["mix"].items())
    cpu = row["cpu_ms_per_task"]
    small, large = sorted(cpu, key=int)
    return [
        "",
        f"| mixed batch: {row['jobs']:,} jobs of {mix}, cap {row['cap']} | figure | baseline "
        "| ratio |",
        "| --- | --- | --- | --- |",
        f"| makespan | {row['makespan']:.1f} s | ideal in the jobs' order {row['ideal']:.1f} s "
        f"| {row['makespan_ratio']:.3f} (fixed 1 s poller: {row['fixed_1s_makespan_ratio']:.3f}; "
        f"longest first {row['longest_first_ratio']:.3f}; 429s: {row['rate_limited']}) |",
        *(
            f"| {name}: polls per task, p50 Ready → seen | {e['polls_per_task']:.2f}, "
            f"{e['p50_ready_to_seen'] * 1000:.0f} ms | fixed 1 s poller "
            f"{e['fixed_1s_polls_per_task']:.2f}, {e['fixed_1s_p50'] * 1000:.0f} ms "
            f"| {e['polls_ratio']:.2f} |"
            for name, e in row["endpoints"].items()
        ),
        f"| client CPU per task (the fake's excluded) | {cpu[large]:.2f} ms at {int(large):,} "
        f"jobs | {cpu[small]:.2f} ms at {int(small):,} | {row['cpu_growth']:.2f} |",
    ]


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(mixed_batch(*(int(n) for n in sys.argv[1:])), indent=2))
