"""The fake's knobs for an adversary (tests/invariants): late-known tasks, echoed keys,
answers of any shape, held requests, and records that name their task."""

from __future__ import annotations

import base64
import math
import threading

import httpx
import pytest
from flux_canny.fake import FakeBFL, FakeServer, HeldRequest, VirtualClock

from tests.conftest import make_image

SUBMIT = "/v1/flux-pro-1.0-canny-finetuned"
POLL = "/v1/get_result"
KEY = "sk-knob-key-0001"
BODY = {
    "control_image": base64.b64encode(make_image()).decode(),
    "prompt": "a castle",
    "finetune_id": "my-finetune",
}


@pytest.fixture
def fake():
    return FakeBFL(clock=VirtualClock(), api_keys=[KEY], task_duration=1.0)


def _http(fake: FakeBFL) -> httpx.Client:
    return httpx.Client(
        transport=fake.transport(), base_url="https://api.us1.bfl.ai", headers={"x-key": KEY}
    )


def test_a_task_is_unknown_to_polls_until_known_after_has_passed(fake):
    fake.known_after = 2.0
    with _http(fake) as http:
        task_id = http.post(SUBMIT, json=BODY).json()["id"]
        first = http.get(POLL, params={"id": task_id})
        fake.clock.advance(2.5)
        later = http.get(POLL, params={"id": task_id})
    assert first.status_code == 404 and first.json()["status"] == "Task not found"
    assert later.status_code == 200 and later.json()["status"] == "Ready"


def test_an_echoing_fake_repeats_the_key_in_error_answers_only(fake):
    fake.echo_key = True
    fake.fail_next(1, 503, path=SUBMIT)
    with _http(fake) as http:
        refused = http.post(SUBMIT, json=BODY)
        invalid = http.post(SUBMIT, json={"prompt": "no image"})
        fine = http.post(SUBMIT, json=BODY)
    assert refused.status_code == 503 and KEY in refused.json()["detail"]
    assert invalid.status_code == 422 and all(KEY in e["msg"] for e in invalid.json()["detail"])
    assert fine.status_code == 200 and KEY not in fine.text


def test_answer_next_sends_any_json_after_or_instead_of_processing(fake):
    fake.answer_next(body=lambda given: {**given, "id": 2**100, "cost": math.nan}, path=SUBMIT)
    fake.answer_next(body=None, path=SUBMIT, process=False, status=200)
    fake.answer_next(body=b'{"id": "trunc', path=POLL, status=503)
    with _http(fake) as http:
        changed = http.post(SUBMIT, json=BODY)
        nothing = http.post(SUBMIT, json=BODY)
        garbled = http.get(POLL, params={"id": "x"})
    assert changed.json()["id"] == 2**100 and math.isnan(changed.json()["cost"])
    assert nothing.status_code == 200 and nothing.json() is None
    assert garbled.status_code == 503 and garbled.content == b'{"id": "trunc'
    assert sum(fake.tasks_created.values()) == 1  # the first was processed, the second not
    first, second, third = fake.records
    assert first.task_id in fake.tasks and first.fault == "answer"
    assert second.task_id is None and third.task_id == "x"


def test_records_name_their_task_and_observers_see_every_answer(fake):
    seen: list[tuple[str | None, int, bytes]] = []
    fake.on_answer = lambda record, response: seen.append(
        (record.task_id, response.status_code, response.content)
    )
    fake.task_duration = 0.0
    with _http(fake) as http:
        task_id = http.post(SUBMIT, json=BODY).json()["id"]
        sample = http.get(POLL, params={"id": task_id}).json()["result"]["sample"]
        image = http.get(sample)
    assert [s[0] for s in seen] == [task_id] * 3
    assert seen[-1][2] == image.content and image.status_code == 200
    assert fake.records[0].path == SUBMIT and fake.records[-1].path.startswith("/results/")


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("process", [True, False], ids=["processed", "dropped"])
def test_the_nth_request_is_held_until_released(after, process):
    fake = FakeBFL(api_keys=[KEY])
    with FakeServer(fake) as server:
        hold = fake.hold_next(2, path=SUBMIT, method="POST", after=after)
        assert isinstance(hold, HeldRequest)
        answers: list[httpx.Response | Exception] = []

        def send() -> None:
            with httpx.Client(base_url=server.base_url, headers={"x-key": KEY}) as http:
                for _ in range(2):
                    try:
                        answers.append(http.post(SUBMIT, json=BODY))
                    except httpx.HTTPError as error:
                        answers.append(error)

        sender = threading.Thread(target=send)
        sender.start()
        assert hold.wait(10)
        # held: the first answered, the second not; its task exists only if held after
        assert len(answers) == 1 and sum(fake.tasks_created.values()) == 1 + after
        hold.release(process=process)
        sender.join(10)
        assert hold.done.is_set()
    answered = isinstance(answers[1], httpx.Response)
    assert answered == process
    assert sum(fake.tasks_created.values()) == 1 + (after or process)


def test_holds_not_reached_are_cancelled_and_a_server_never_started_stops():
    fake = FakeBFL(clock=VirtualClock())
    hold = fake.hold_next(5, path=SUBMIT)
    fake.cancel_holds()
    assert not fake._holds and not hold.arrived.is_set()
    FakeServer(fake).stop()  # bound, never served: returns at once
