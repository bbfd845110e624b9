"""Paid once, in-process: leaving iter_many early hands over every created task id."""

from __future__ import annotations

import asyncio

import pytest
from flux_canny import GeneratedImage
from flux_canny.fake import FakeBFL

from ..conftest import make_image


def test_leaving_iter_many_early_hands_every_created_id_to_on_submit(png):
    fake = FakeBFL(task_duration=0.0)  # real time: the submits below really are in flight
    ready = fake.client().submit(control_image=png, prompt="p", finetune_id="my-finetune")
    fake.submit_latency = 0.5  # every other submit is still in flight when we leave
    handed: list[str] = []

    async def main():
        async with fake.async_client() as flux:
            jobs = [{"task": ready}] + [
                {"control_image": make_image(), "prompt": f"p{i}", "finetune_id": "my-finetune"}
                for i in range(5)
            ]
            async for index, outcome in flux.iter_many(
                jobs, on_submit=lambda i, task: handed.append(task.id)
            ):
                assert index == 0 and isinstance(outcome, GeneratedImage)
                break

    asyncio.run(main())
    created = set(fake.tasks) - {ready.id}
    assert len(created) == 5
    assert set(handed) == created


def test_cancelling_an_async_submit_does_not_lose_the_paid_task(png, tmp_path):
    from flux_canny.ledger import Ledger

    fake = FakeBFL()
    fake.submit_latency = 0.3  # the POST is out, its answer on the way
    ledger = Ledger(tmp_path / "ledger.sqlite3")

    async def main():
        async with fake.async_client(ledger=ledger) as flux:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(
                    flux.submit(control_image=png, prompt="p", finetune_id="my-finetune"), 0.05
                )
            await flux.settle_submits()

    asyncio.run(main())
    (row,) = ledger.entries()
    assert row.state == "submitted" and row.task_id in fake.tasks


def test_a_submit_still_unanswered_after_the_grace_is_recorded_uncertain(png, tmp_path):
    from flux_canny.ledger import Ledger

    fake = FakeBFL()
    fake.submit_latency = 5.0
    ledger = Ledger(tmp_path / "ledger.sqlite3")

    async def main():
        async with fake.async_client(ledger=ledger) as flux:
            submit = asyncio.ensure_future(
                flux.submit(control_image=png, prompt="p", finetune_id="my-finetune")
            )
            await asyncio.sleep(0.1)
            submit.cancel()
            await flux.settle_submits(timeout=0.1)

    asyncio.run(main())
    (row,) = ledger.entries()
    assert row.state == "uncertain" and "while the submit was sent" in row.error
    assert len(fake.tasks) == 1  # it was paid for: uncertain, never resubmitted
