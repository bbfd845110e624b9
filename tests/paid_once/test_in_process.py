"""Paid once, in-process: leaving iter_many early hands over every created task id."""

from __future__ import annotations

import asyncio

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
