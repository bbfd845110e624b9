"""The fake answers as BFL's live service does (issue #15), through both client faces;
`spec_only=True` gives the strictly-spec answers it gave before."""

from __future__ import annotations

import time

import httpx
import pytest
from flux_canny import (
    APIStatusError,
    APIValidationError,
    GenerationError,
    InsufficientCreditsError,
    ModerationError,
    Task,
    TaskNotFoundError,
)
from flux_canny.fake import FakeBFL

ARGS = {"prompt": "a castle", "finetune_id": "my-finetune"}


@pytest.fixture
def fake(clock):
    return FakeBFL(clock=clock, task_duration=2.0)


def _client(face, fake, **options):
    return face(transport=fake.transport(), api_key="test-key", ledger=False, **options)


def test_an_unknown_task_is_a_404_with_a_task_body(face, fake):
    answer = httpx.Client(transport=fake.transport()).get(
        "https://api.us1.bfl.ai/v1/get_result", params={"id": "nope"}
    )
    assert answer.status_code == 404 and answer.json()["status"] == "Task not found"
    with pytest.raises(TaskNotFoundError):
        _client(face, fake).wait(Task(id="nope"))
    fake.spec_only = True
    answer = httpx.Client(transport=fake.transport()).get(
        "https://api.us1.bfl.ai/v1/get_result", params={"id": "nope"}
    )
    assert answer.status_code == 200  # what the spec alone says


@pytest.mark.parametrize(("outcome", "code"), [("terminal-422", 422), ("terminal-503", 503)])
def test_a_poll_can_end_in_an_error_status_with_a_terminal_body(face, fake, png, outcome, code):
    fake.queue_outcomes(outcome)
    with pytest.raises(GenerationError, match="fake failure") as caught:
        _client(face, fake).generate(control_image=png, **ARGS)
    assert caught.value.task_id in fake.tasks
    assert any(r.status == code for r in fake.records if r.path == "/v1/get_result")


def test_a_moderated_request_is_flagged_at_once_and_not_charged(face, fake, png, clock):
    fake.credits = 10.0
    fake.queue_outcomes("Request Moderated")
    client = _client(face, fake)
    started = clock.monotonic()
    with pytest.raises(ModerationError, match="Moderation Reasons"):
        client.generate(control_image=png, **ARGS)
    assert clock.monotonic() - started < 1.0  # not after the task's two seconds
    assert fake.credits == 10.0
    fake.queue_outcomes("Content Moderated")
    with pytest.raises(ModerationError, match="Moderation Reasons"):
        client.generate(control_image=png, **ARGS)
    assert fake.credits == 5.0  # content moderation comes after the work, and is paid


def test_out_of_credits_is_402_and_never_retried(face, fake, png):
    fake.credits, fake.cost_per_task = 5.0, 5.0
    client = _client(face, fake)
    client.generate(control_image=png, **ARGS)
    posts = fake.requests[("POST", "/v1/flux-pro-1.0-canny-finetuned")]
    with pytest.raises(InsufficientCreditsError, match="Insufficient credits"):
        client.submit(control_image=png, **ARGS)
    assert fake.requests[("POST", "/v1/flux-pro-1.0-canny-finetuned")] == posts + 1
    assert len(fake.tasks) == 1


def test_a_402_fault_says_what_bfl_says(face, fake, png):
    fake.fail_next(1, 402, path="/v1/flux-pro-1.0-canny-finetuned")
    with pytest.raises(InsufficientCreditsError, match="Insufficient credits"):
        _client(face, fake).submit(control_image=png, **ARGS)


def test_an_unknown_finetune_is_400_and_a_malformed_key_422(face, fake, png):
    with pytest.raises(APIStatusError, match="Finetune nope not found") as caught:
        _client(face, fake).submit(control_image=png, prompt="p", finetune_id="nope")
    assert caught.value.status_code == 400 and not fake.tasks
    with pytest.raises(APIValidationError, match="Invalid API key format"):
        face(transport=fake.transport(), api_key="bad/key", ledger=False).submit(
            control_image=png, **ARGS
        )


def test_a_regional_store_that_does_not_know_a_task_yet_is_waited_out(face, fake, png):
    fake.fail_next(1, "not-found-404")
    image = _client(face, fake).generate(control_image=png, **ARGS)
    assert image.task_id in fake.tasks
    assert any(r.status == 404 for r in fake.records)


def test_ready_results_carry_epoch_times(fake, png, clock):
    with fake.client() as flux:
        task = flux.submit(control_image=png, **ARGS)
        clock.advance(5)
        result = flux.get_result(task)
    start = result.raw["result"]["start_time"]
    assert abs(start - time.time()) < 3600 and result.raw["result"]["duration"] == 2.0


def test_spec_only_reproduces_the_strictly_spec_answers(clock, png):
    fake = FakeBFL(clock=clock, spec_only=True, finetunes=["other"])
    with fake.client() as flux:
        task = flux.submit(control_image=png, **ARGS)  # any finetune id
        seen = []
        for _ in range(3):
            seen.append(flux.get_result(task).status)
            clock.advance(0.6)
    assert seen == ["Pending", "Pending", "Pending"]
    fake.queue_outcomes("Content Moderated")
    with fake.client() as flux, pytest.raises(ModerationError, match="reason"):
        flux.generate(control_image=png, **ARGS)


def test_credits_through_both_faces(face, fake, png):
    fake.credits, fake.cost_per_task = 12.5, 5.0
    client = _client(face, fake)
    assert client.credits() == 12.5
    client.generate(control_image=png, **ARGS)
    assert client.credits() == 7.5
    fake.credits = None
    assert client.credits() == 1_000_000.0  # unlimited


def test_max_cost_stops_submits_before_they_pass_it(png):
    import asyncio

    from flux_canny import BudgetExhaustedError, GeneratedImage

    fake = FakeBFL(task_duration=0.05, cost_per_task=5.0)
    fake.submit_latency = 0.05  # answers arrive while other jobs wait to submit

    async def main():
        async with fake.async_client() as flux:
            jobs = [{"control_image": png, **ARGS} for _ in range(10)]
            return await flux.generate_many(jobs, concurrency=10, max_cost=22)

    outcomes = asyncio.run(main())
    images = [o for o in outcomes if isinstance(o, GeneratedImage)]
    refused = [o for o in outcomes if isinstance(o, BudgetExhaustedError)]
    assert (len(images), len(refused)) == (4, 6)  # 4 x 5 = 20 <= 22; a fifth would be 25
    assert len(fake.tasks) == 4  # the refused ones were never sent
    assert "max_cost 22" in str(refused[0])


def test_tasks_live_on_a_regional_cluster_and_other_regions_do_not_know_them(face, fake, png):
    fake.polling_host = "api.us2.bfl.ai"
    client = _client(face, fake)
    task = client.submit(control_image=png, **ARGS)
    assert httpx.URL(task.polling_url).host == "api.us2.bfl.ai"
    assert client.resume(task).task_id == task.id  # polled where the answer said, with the key
    assert fake.key_seen_by_hosts() == {"api.us1.bfl.ai", "api.us2.bfl.ai"}
    with pytest.raises(TaskNotFoundError):  # the id alone polls the submit's own region
        client.wait(Task(id=task.id))


def test_the_live_behaviours_through_the_loopback_server(png):
    from flux_canny import FluxCanny
    from flux_canny.fake import FakeServer

    with FakeServer(FakeBFL(task_duration=0.1, credits=10.0, cost_per_task=5.0)) as server:
        server.fake.queue_outcomes("terminal-503", "Request Moderated")
        with FluxCanny(api_key="test-key", base_url=server.base_url, ledger=False) as flux:
            with pytest.raises(GenerationError, match="fake failure"):
                flux.generate(control_image=png, **ARGS)
            with pytest.raises(ModerationError, match="Moderation Reasons"):
                flux.generate(control_image=png, **ARGS)
            assert flux.credits() == 5.0  # the moderated request was not charged
            server.fake.fail_next(1, "not-found-404")
            flux.generate(control_image=png, **ARGS)
            with pytest.raises(InsufficientCreditsError):
                flux.submit(control_image=png, **ARGS)
            with pytest.raises(TaskNotFoundError):
                flux.wait(Task(id="never-made"))


def test_results_are_kept_about_an_hour_then_forgotten(fake, png, clock):
    with fake.client() as flux:
        image = flux.generate(control_image=png, **ARGS)
        task = fake.tasks[image.task_id]
        assert "control_image" not in task.body  # dropped once the sample was drawn
        clock.advance(fake.retention + 1)
        with pytest.raises(TaskNotFoundError):
            flux.wait(Task(id=image.task_id))
    assert image.task_id not in fake.tasks


def test_a_long_run_holds_only_the_last_hour_of_tasks(clock):
    fake = FakeBFL(clock=clock, task_duration=1.0, retention=200.0, max_active_tasks=10**6)
    transport = httpx.Client(transport=fake.transport())
    body = {"prompt": "p", "finetune_id": "my-finetune", "control_image": "aGk="}
    for _ in range(4_000):
        answer = transport.post(
            "https://api.us1.bfl.ai/v1/flux-pro-1.0-canny-finetuned",
            json=body,
            headers={"x-key": "test-key"},
        )
        assert answer.status_code == 200
        clock.advance(0.5)  # a task every half second, for 2,000 s of fake time
    assert len(fake.tasks) <= 401  # the last 200 s: the rest are forgotten
    assert sum(fake.tasks_created.values()) == 4_000
    assert fake.active_tasks("test-key") <= 2
