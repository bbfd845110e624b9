"""generate_many: outcomes in input order, the active-task cap never exceeded, nothing lost."""

from __future__ import annotations

import asyncio

from flux_canny import ImageInputError, ModerationError
from flux_canny.fake import FakeBFL, VirtualClock

from tests.conftest import make_image


def test_many_generations_respect_the_cap_and_keep_order():
    clock = VirtualClock()
    fake = FakeBFL(clock=clock, max_active_tasks=3, task_duration=2)
    png = make_image()
    peak = [0]
    original = fake.handle

    def watch(request):
        reply = original(request)
        peak[0] = max(peak[0], fake.active_tasks("test-key"))
        return reply

    fake.handle = watch  # type: ignore[method-assign]
    fake.queue_outcomes(*(["Ready"] * 4 + ["Content Moderated"]))
    jobs = [
        {"control_image": png, "prompt": f"p{i}", "finetune_id": "my-finetune", "seed": i}
        for i in range(8)
    ]
    jobs.insert(2, {"control_image": b"not an image", "prompt": "x", "finetune_id": "f"})
    submitted: dict[int, str] = {}

    async def run():
        async with fake.async_client() as flux:
            return await flux.generate_many(
                jobs, concurrency=3, on_submit=lambda i, t: submitted.__setitem__(i, t.id)
            )

    outcomes = asyncio.run(run())
    assert len(outcomes) == 9
    assert isinstance(outcomes[2], ImageInputError)
    moderated = [o for o in outcomes if isinstance(o, ModerationError)]
    assert len(moderated) == 1 and moderated[0].task_id in submitted.values()
    images = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(images) == 7
    for job, outcome in zip(jobs, outcomes, strict=True):
        if not isinstance(outcome, Exception):
            assert outcome.seed == job["seed"]  # outcome i belongs to request i
    assert peak[0] <= 3
    assert fake.tasks_created["test-key"] == 8 == len(submitted)
    assert len(set(submitted.values())) == 8


def test_each_request_may_carry_generate_keywords_of_its_own():
    fake = FakeBFL(clock=VirtualClock())
    seen: list[str] = []
    updates: list[str] = []
    jobs = [
        {
            "control_image": make_image(),
            "prompt": "p",
            "finetune_id": "my-finetune",
            "on_submit": lambda t: seen.append(t.id),
            "on_update": lambda r: updates.append(r.status),
            "timeout": 60,
            "validate": True,
        }
    ]

    async def run():
        async with fake.async_client() as flux:
            return await flux.generate_many(jobs)

    (outcome,) = asyncio.run(run())
    assert not isinstance(outcome, Exception), outcome
    assert seen == [outcome.task_id] and updates[-1] == "Ready"


def test_iter_many_takes_jobs_as_slots_free_and_leaving_early_starts_no_more():
    fake = FakeBFL(clock=VirtualClock(), task_duration=1.0)
    png = make_image()
    pulled: list[int] = []

    def jobs():  # a generator of thousands: never read ahead of the window
        for i in range(5_000):
            pulled.append(i)
            yield {"control_image": png, "prompt": f"p{i}", "finetune_id": "my-finetune"}

    async def first_outcome() -> int:
        async with fake.async_client() as flux:
            async for _index, _outcome in flux.iter_many(jobs(), concurrency=4):
                return len(pulled)
        raise AssertionError("no outcome")

    read_by_then = asyncio.run(first_outcome())
    assert read_by_then <= 2 * 4 + 1  # the window, and the one that replaced the first
    assert sum(fake.tasks_created.values()) <= len(pulled) <= 2 * 4 + 1
