"""The fake serves every image-making operation of openapi.json (issue 29, item 4), spoken
to in raw HTTP as any client would: a body built from the spec submits, polls to Ready and
downloads an image of the asked format; a bad body gets FastAPI's 422 listing every error;
an unknown finetune is refused on the finetuned ones; each operation keeps its duration."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import httpx
import numpy as np
import pytest
from flux_canny._operations import Operation, operations
from flux_canny.fake import FakeBFL, FakeServer, VirtualClock
from PIL import Image

from tests.fake._operation_bodies import (
    FORMATS,
    IN_FLIGHT,
    KEY,
    NAMES,
    OPERATIONS,
    PAIRS,
    PIL_NAMES,
    properties_of,
    valid_body,
)


def _run_to_ready(http: httpx.Client, op: Operation, body: dict[str, Any], advance) -> bytes:
    submitted = http.post(op.path, json=body, headers=KEY)
    assert submitted.status_code == 200, submitted.text
    polling_url = submitted.json()["polling_url"]
    seen = []
    for _ in range(200):
        answer = http.get(polling_url, headers=KEY)
        assert answer.status_code == 200, answer.text
        seen.append(answer.json()["status"])
        if seen[-1] == "Ready":
            break
        advance()
    assert seen[-1] == "Ready" and seen[0] in IN_FLIGHT, seen
    sample = answer.json()["result"]["sample"]
    downloaded = http.get(sample)  # the delivery host needs no key
    assert downloaded.status_code == 200
    return downloaded.content


@pytest.mark.parametrize(("op", "fmt"), PAIRS, ids=[f"{op.name}-{fmt}" for op, fmt in PAIRS])
def test_every_operation_runs_to_an_image_of_its_format_in_process(op, fmt):
    clock = VirtualClock()
    fake = FakeBFL(clock=clock, task_duration=3.0)
    with httpx.Client(transport=fake.transport(), base_url="https://api.bfl.ai") as http:
        data = _run_to_ready(http, op, valid_body(op, fmt), lambda: clock.advance(0.5))
    picture = Image.open(io.BytesIO(data))
    assert picture.format == PIL_NAMES[fmt]
    assert fake.tasks_created["test-key"] == 1


@pytest.fixture(scope="module")
def server():
    """One loopback fake for the module: stopping one waits out its serve loop's poll."""
    with FakeServer(FakeBFL(task_duration=0.05)) as running:
        yield running


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_every_operation_runs_to_an_image_on_loopback(op, server):
    fmt = FORMATS[op.name][-1]
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        data = _run_to_ready(http, op, valid_body(op, fmt), lambda: time.sleep(0.02))
    assert Image.open(io.BytesIO(data)).format == PIL_NAMES[fmt]


SIZED = [op for op in OPERATIONS if {"width", "height"} <= op.field_names]


@pytest.mark.parametrize("op", SIZED, ids=[op.name for op in SIZED])
def test_the_image_has_the_width_and_height_asked_for(op):
    clock = VirtualClock()
    fake = FakeBFL(clock=clock)
    body = {**valid_body(op, "png"), "width": 320, "height": 256}
    with httpx.Client(transport=fake.transport(), base_url="https://api.bfl.ai") as http:
        data = _run_to_ready(http, op, body, lambda: clock.advance(1.0))
    assert Image.open(io.BytesIO(data)).size == (320, 256)


def test_an_image_input_comes_back_in_the_output_and_a_prompt_alone_draws_its_own():
    """A rendering of the inputs: a black input gives a dark picture, a white one a light
    one; with no image, two prompts give two different pictures."""
    kontext = operations()["flux-kontext-pro"]
    clock = VirtualClock()
    fake = FakeBFL(clock=clock)

    def mean(body: dict[str, Any]) -> float:
        with httpx.Client(transport=fake.transport(), base_url="https://api.bfl.ai") as http:
            data = _run_to_ready(http, kontext, body, lambda: clock.advance(1.0))
        return float(np.asarray(Image.open(io.BytesIO(data)).convert("L")).mean())

    def filled(colour: str) -> str:
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), colour).save(buffer, "PNG")
        return base64.b64encode(buffer.getvalue()).decode()

    dark = mean({"prompt": "p", "seed": 1, "input_image": filled("black")})
    light = mean({"prompt": "p", "seed": 1, "input_image": filled("white")})
    assert dark < 100 < light
    assert mean({"prompt": "a cat", "seed": 1}) != mean({"prompt": "a dog", "seed": 1})


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_an_invalid_body_gets_a_422_listing_every_error_at_once(op):
    """Every required field missing, a seed that is no integer and a format outside the
    enum: one answer names each of them, as FastAPI does."""
    fake = FakeBFL(clock=VirtualClock())
    with httpx.Client(transport=fake.transport(), base_url="https://api.bfl.ai") as http:
        answer = http.post(op.path, json={"seed": "tomorrow", "output_format": "gif"}, headers=KEY)
    assert answer.status_code == 422
    errors = {tuple(e["loc"]): e["type"] for e in answer.json()["detail"]}
    expected = {("body", name): "missing" for name in op.required}
    assert {k: v for k, v in errors.items() if v == "missing"} == expected
    assert errors[("body", "seed")] == "int_parsing"
    assert errors[("body", "output_format")] in ("enum", "literal_error")
    assert fake.tasks_created["test-key"] == 0


STEPPED = [op for op in OPERATIONS if "maximum" in str(properties_of(op).get("steps", ""))]


@pytest.mark.parametrize("op", STEPPED, ids=[op.name for op in STEPPED])
def test_a_bound_broken_is_named_with_the_servers_error_type(op):
    fake = FakeBFL(clock=VirtualClock())
    with httpx.Client(transport=fake.transport(), base_url="https://api.bfl.ai") as http:
        answer = http.post(op.path, json={**valid_body(op), "steps": 10_000}, headers=KEY)
    assert answer.status_code == 422
    assert [(e["loc"], e["type"]) for e in answer.json()["detail"]] == [
        (["body", "steps"], "less_than_equal")
    ]


FINETUNED = [op for op in OPERATIONS if op.finetuned]


def test_three_operations_are_finetuned():
    assert {op.name for op in FINETUNED} == {
        "flux-pro-1.0-canny-finetuned",
        "flux-pro-1.0-fill-finetuned",
        "flux-pro-1.1-ultra-finetuned",
    }


@pytest.mark.parametrize("op", FINETUNED, ids=[op.name for op in FINETUNED])
def test_an_unknown_finetune_is_refused_with_400_and_costs_nothing(op):
    fake = FakeBFL(clock=VirtualClock(), finetunes=["mine"], credits=10.0)
    with httpx.Client(transport=fake.transport(), base_url="https://api.bfl.ai") as http:
        refused = http.post(op.path, json=valid_body(op), headers=KEY)
        accepted = http.post(op.path, json={**valid_body(op), "finetune_id": "mine"}, headers=KEY)
    assert refused.status_code == 400
    assert refused.json() == {"detail": "Finetune my-finetune not found"}
    assert accepted.status_code == 200
    assert fake.tasks_created["test-key"] == 1 and fake.credits == 5.0


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_each_operation_takes_its_own_duration_on_the_virtual_clock(op):
    other = next(o for o in OPERATIONS if o.name != op.name)
    clock = VirtualClock()
    fake = FakeBFL(clock=clock, task_duration=2.0, durations={op.name: 7.0})
    with httpx.Client(transport=fake.transport(), base_url="https://api.bfl.ai") as http:
        mine = http.post(op.path, json=valid_body(op), headers=KEY).json()["polling_url"]
        theirs = http.post(other.path, json=valid_body(other), headers=KEY).json()["polling_url"]

        def status(url: str) -> str:
            return str(http.get(url, headers=KEY).json()["status"])

        clock.advance(2.0)
        assert (status(mine) in IN_FLIGHT, status(theirs)) == (True, "Ready")
        clock.advance(4.9)
        assert status(mine) in IN_FLIGHT
        clock.advance(0.1)
        answer = http.get(mine, headers=KEY).json()
    assert answer["status"] == "Ready" and answer["result"]["duration"] == 7.0


def test_a_duration_for_no_operation_is_refused():
    from flux_canny import FluxCannyError

    with pytest.raises(FluxCannyError, match="flux-3-ultra"):
        FakeBFL(durations={"flux-3-ultra": 1.0})


def test_the_active_task_cap_and_the_credits_count_across_operations():
    ops = OPERATIONS[:3]
    clock = VirtualClock()
    fake = FakeBFL(clock=clock, max_active_tasks=2, credits=15.0)
    with httpx.Client(transport=fake.transport(), base_url="https://api.bfl.ai") as http:
        first, second, third = (http.post(o.path, json=valid_body(o), headers=KEY) for o in ops)
        assert [a.status_code for a in (first, second, third)] == [200, 200, 429]
        clock.advance(2.0)  # both finished: room again, and credits for one more
        assert http.post(ops[2].path, json=valid_body(ops[2]), headers=KEY).status_code == 200
        assert http.post(ops[0].path, json=valid_body(ops[0]), headers=KEY).status_code == 402


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_a_moderated_task_of_any_operation_ends_moderated(op):
    fake = FakeBFL(clock=VirtualClock(), task_duration=0.0)
    fake.queue_outcomes("Content Moderated")
    with httpx.Client(transport=fake.transport(), base_url="https://api.bfl.ai") as http:
        polling_url = http.post(op.path, json=valid_body(op), headers=KEY).json()["polling_url"]
        answer = http.get(polling_url, headers=KEY).json()
    assert answer["status"] == "Content Moderated"
    assert answer["details"] == {"Moderation Reasons": ["fake content moderated"]}


def test_the_fixture_serves_every_operation(bfl_fake):
    with httpx.Client(transport=bfl_fake.transport(), base_url="https://api.bfl.ai") as http:
        codes = {op.name: http.post(op.path, json=valid_body(op), headers=KEY) for op in OPERATIONS}
    assert {name: answer.status_code for name, answer in codes.items()} == dict.fromkeys(NAMES, 200)


@pytest.mark.bfl_fake(task_duration=60.0, durations={"flux-2-klein-4b": 0.5})
def test_the_fixture_takes_durations_per_operation_from_its_marker(bfl_fake):
    klein = operations()["flux-2-klein-4b"]
    with httpx.Client(transport=bfl_fake.transport(), base_url="https://api.bfl.ai") as http:
        polling_url = http.post(klein.path, json=valid_body(klein), headers=KEY).json()
        bfl_fake.clock.advance(0.5)
        assert http.get(polling_url["polling_url"], headers=KEY).json()["status"] == "Ready"


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_every_operation_calls_its_webhook_with_the_secret_when_done(op):
    clock = VirtualClock()
    fake = FakeBFL(clock=clock, task_duration=1.0)
    body = {**valid_body(op), "webhook_url": "https://hooks.example/done"}
    body["webhook_secret"] = "s3cret"
    with httpx.Client(transport=fake.transport(), base_url="https://api.bfl.ai") as http:
        submitted = http.post(op.path, json=body, headers=KEY).json()
    assert submitted["webhook_url"] == "https://hooks.example/done"
    clock.advance(1.0)
    fake.tick()
    [delivery] = fake.webhooks
    assert delivery.payload["task_id"] == submitted["id"]
    assert delivery.payload["status"] == "SUCCESS"
    assert delivery.headers["X-Webhook-Secret"] == "s3cret"


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_a_dropped_answer_on_any_operation_still_made_its_task(op):
    """The case paid-once is about: the submit was processed, its answer lost."""
    fake = FakeBFL(clock=VirtualClock())
    fake.fail_next(1, "drop", path=op.path)
    with (
        httpx.Client(transport=fake.transport(), base_url="https://api.bfl.ai") as http,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        http.post(op.path, json=valid_body(op), headers=KEY)
    [record] = fake.records
    assert fake.tasks_created["test-key"] == 1 and record.task_id in fake.tasks
    assert record.fault == "drop" and record.path == op.path
