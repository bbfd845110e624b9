"""One reader for every answer, and every value kept exactly (issue 28, breaks 6 and 11).

A submit answer the spec does not describe (an id of 2**100, `{}`, `null`, a polling_url
of 12345, a list, or one that does not parse) arrives after the POST was paid for: it is
a SubmitUncertainError naming the task where it has a readable id, the row is uncertain,
and nothing is submitted again. A seed past SQLite's 64-bit INTEGER goes through the
whole generation and back out of the ledger unchanged. Both faces, against the fake.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flux_canny import (
    GenerationError,
    InvalidArgumentError,
    SubmitUncertainError,
    Task,
)
from flux_canny.fake import FakeBFL
from flux_canny.fake.transport import FakeTransport
from flux_canny.ledger import Ledger

SUBMIT = "/v1/flux-pro-1.0-canny-finetuned"
RESULT = "/v1/get_result"
ARGS = {"prompt": "a castle", "finetune_id": "my-finetune"}


class Rewritten(FakeTransport):
    """The fake, with its JSON answers on `path` rewritten by `edit`, and written with
    Python's own encoder: what a hostile or broken server may send and the fake's
    encoder would refuse (NaN, `null` for the whole body)."""

    def __init__(self, fake: FakeBFL, path: str, edit: Callable[[Any], Any]) -> None:
        super().__init__(fake)
        self.path, self.edit = path, edit

    def _finish(self, reply: Any, request: httpx.Request) -> httpx.Response:  # type: ignore[override]
        response = super()._finish(reply, request)
        if request.url.path != self.path or response.status_code != 200:
            return response
        body = self.edit(json.loads(response.content))
        return httpx.Response(
            200, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
        )


@pytest.fixture
def fake(clock):
    return FakeBFL(clock=clock, task_duration=2.0)


def _client(face, fake, tmp_path, transport=None):
    return face(
        transport=transport or fake.transport(),
        api_key="test-key",
        ledger=tmp_path / "ledger.sqlite3",
    )


def _replace(**fields: Any) -> Callable[[Any], Any]:
    return lambda body: {**body, **fields}


HOSTILE_SUBMITS = {
    "id 2**100": (_replace(id=2**100), None, "is not a task id"),
    "id null": (_replace(id=None), None, "is not a task id"),
    "id a lone surrogate": (_replace(id="t\ud800"), None, "is not a task id"),
    "empty object": (lambda body: {}, None, "has no id"),
    "null body": (lambda body: None, None, "not a JSON object"),
    "polling_url 12345": (_replace(polling_url=12345), "fake", "12345 is not a URL"),
    "polling_url a list": (_replace(polling_url=["x"]), "fake", "['x'] is not a URL"),
    "polling_url unparsable": (
        _replace(polling_url="https://a.bfl.ai:443:1/x"),
        "fake",
        "'https://a.bfl.ai:443:1/x' is not a URL",
    ),
}


@pytest.mark.parametrize("case", HOSTILE_SUBMITS, ids=list(HOSTILE_SUBMITS))
def test_an_unreadable_submit_answer_is_uncertain_names_its_task_and_is_never_paid_again(
    face, fake, tmp_path, png, case
):
    edit, named, says = HOSTILE_SUBMITS[case]
    flux = _client(face, fake, tmp_path, Rewritten(fake, SUBMIT, edit))
    with pytest.raises(SubmitUncertainError) as caught:
        flux.generate(control_image=png, **ARGS)
    assert says in str(caught.value) and "may exist" in str(caught.value)
    (made,) = fake.tasks  # the POST reached the server once, and was not retried
    assert caught.value.task_id == (made if named else None)
    (row,) = Ledger(tmp_path / "ledger.sqlite3").entries()
    assert row.state == "uncertain" and row.task_id == caught.value.task_id
    assert says in (row.error or "")


def test_a_task_from_an_unreadable_answer_is_fetched_by_its_id(face, fake, tmp_path, png):
    """The answer's id was readable and its polling URL not: resuming by the id the error
    names gets the image, and the row moves from uncertain to downloaded."""
    bad = Rewritten(fake, SUBMIT, _replace(polling_url="https://a.bfl.ai:443:1/x"))
    with pytest.raises(SubmitUncertainError) as caught:
        _client(face, fake, tmp_path, bad).generate(control_image=png, **ARGS)
    image = _client(face, fake, tmp_path).resume(caught.value.task_id)
    assert image.task_id == caught.value.task_id and len(fake.tasks) == 1
    (row,) = Ledger(tmp_path / "ledger.sqlite3").entries()
    assert row.state == "downloaded"


def test_a_sample_url_that_does_not_parse_is_a_generation_error_naming_the_task(
    face, fake, tmp_path, png
):
    def broken_sample(body: Any) -> Any:
        if body.get("status") == "Ready":
            body["result"]["sample"] = "https://a.bfl.ai:443:1/x"
        return body

    flux = _client(face, fake, tmp_path, Rewritten(fake, RESULT, broken_sample))
    with pytest.raises(GenerationError, match="no image") as caught:
        flux.generate(control_image=png, **ARGS)
    (made,) = fake.tasks
    assert caught.value.task_id == made
    (row,) = Ledger(tmp_path / "ledger.sqlite3").entries()
    assert row.state == "ready"  # resumable, never taken for gone: nothing is paid again


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"id": None}, "a task id is a string"),
        ({"id": "t\ud800"}, "a task id is a string"),
        ({"id": "t1", "polling_url": "https://a.bfl.ai:443:1/x"}, "polling_url is a URL"),
        ({"id": "t1", "polling_url": 12345}, "polling_url is a URL"),
    ],
)
def test_a_task_made_by_hand_is_checked_where_it_is_made(fields, says):
    with pytest.raises(InvalidArgumentError, match=says):
        Task(**fields)


@pytest.mark.parametrize("seed", [2**63, 2**70, -(2**63) - 1, 2**63 - 1])
def test_a_seed_past_64_bits_goes_through_and_the_ledger_keeps_it_exactly(
    face, fake, tmp_path, png, seed
):
    flux = _client(face, fake, tmp_path)
    image = flux.generate(control_image=png, seed=seed, **ARGS)
    assert image.seed == seed
    (row,) = Ledger(tmp_path / "ledger.sqlite3").entries()
    assert (row.state, row.seed) == ("downloaded", seed)
    again = _client(face, fake, tmp_path).resume(image.task_id)  # `result ID`, library face
    assert again.seed == seed and len(fake.tasks) == 1
