"""Every operation's submit answers, as its spec entry declares them, reach the caller as
the wrapper promises, on both faces: each 200 body the spec allows is a Task (or, for a
polling URL that is no URL, a SubmitUncertainError with the task id), each 422 body an
APIValidationError carrying the parsed detail; the spec-built oracle's 422 for each
operation's boundary cases arrives with the same (loc, type) list; a 422 with a string
detail keeps the server's words.

Everything is read from openapi.json (operations, their statuses and answer schemas, their
servers, their bounds): nothing is listed per endpoint. The answer schemas are read by
component name, so a status or schema the spec adds fails here until the suite says what
it means for the caller.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from flux_canny import APIValidationError, SubmitUncertainError
from flux_canny._operations import Operation, operations, origin
from flux_canny._spec import packaged_spec
from flux_canny_api.models import HTTPValidationError
from flux_canny_api.types import UNSET
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import Face, make_image

from .spec_oracle import SpecOracle
from .spec_strategies import answer_bodies, boundary_cases, declared_answers, minimal_body

SPEC = packaged_spec()
OPERATIONS = list(operations().values())
NAMES = [op.name for op in OPERATIONS]
ORACLE = SpecOracle()
PNG = make_image()
#: answer bodies per operation and face: a few, since every operation shares the schemas
#: that test_responses_and_422 draws hundreds of (more under the thorough profile)
ANSWERS = max(2, settings().max_examples // 30)
#: without shrinking: a failure names the bodies that broke it, and shrinking three submits
#: per step (of unicode text and nested lists) took minutes per failing operation
SOME = settings(
    max_examples=ANSWERS,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _call(op: Operation) -> dict[str, Any]:
    """The fields of a valid call with only what `op` requires (an image in each required
    image field)."""
    body = minimal_body(SPEC, op)
    return {name: PNG if name in op.image_fields else value for name, value in body.items()}


def _submit(face: Face, op: Operation, **options: Any) -> Any:
    return face.submit(endpoint=op.name, **{**_call(op), **options})


def _async_task(body: dict[str, Any], task: Any) -> None:
    try:
        httpx.URL(body["polling_url"])
    except httpx.InvalidURL:  # a string, as the spec allows, but no URL to poll
        assert isinstance(task, SubmitUncertainError), task
        assert "is not a URL" in str(task) and task.task_id == body["id"]
        assert pickle.loads(pickle.dumps(task)).task_id == body["id"]
        return
    assert (task.id, task.polling_url, dict(task.raw)) == (body["id"], body["polling_url"], body)


def _webhook_task(body: dict[str, Any], task: Any) -> None:
    assert (task.id, task.webhook_url, task.status) == (
        body["id"],
        body["webhook_url"],
        body["status"],
    )


def _validation_error(body: dict[str, Any], error: Any) -> None:
    assert isinstance(error, APIValidationError), error
    assert isinstance(error.detail, HTTPValidationError)
    assert error.detail.to_dict() == body
    assert error.errors == body.get("detail", [])
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.detail, copy.errors) == (str(error), error.detail, error.errors)


#: what the caller gets for each answer schema the spec names, by component name
PROMISES: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "AsyncResponse": _async_task,
    "AsyncWebhookResponse": _webhook_task,
    "HTTPValidationError": _validation_error,
}


def _answers(op: Operation) -> list[tuple[int, str]]:
    return [(s, name) for s, names in declared_answers(SPEC, op).items() for name in names]


def test_every_answer_the_spec_declares_has_a_promise():
    """A new status or schema in the spec fails here until the suite says what it means."""
    declared = {name for op in OPERATIONS for _, name in _answers(op)}
    assert declared <= set(PROMISES), declared - set(PROMISES)
    assert all(200 in declared_answers(SPEC, op) for op in OPERATIONS)


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_each_declared_answer_reaches_the_caller_as_promised(face, op):
    """Mocked on the server the operation routes to (no base URL configured); every
    declared answer schema drawn a few times on each face."""
    client = face(ledger=False)
    answers = _answers(op)
    url = origin(op) + op.path

    @SOME
    @given(st.tuples(*(_bodies(name) for _, name in answers)))
    def check(bodies: tuple[Any, ...]) -> None:
        for (status, name), body in zip(answers, bodies, strict=True):
            with respx.mock as api:
                route = api.post(url).respond(status, json=body)
                try:
                    outcome = _submit(client, op)
                except (SubmitUncertainError, APIValidationError) as error:
                    outcome = error
            assert route.call_count == 1
            PROMISES[name](body, outcome)

    check()


def _bodies(name: str) -> st.SearchStrategy[Any]:
    return answer_bodies(SPEC, {"$ref": f"#/components/schemas/{name}"})


def _cases(op: Operation) -> list[tuple[str, Any, str]]:
    """The boundary cases the server refuses, but those of image fields (the wrapper
    refuses a value that is no image before sending anything)."""
    return [
        (field, value, error)
        for field, value, error in boundary_cases(SPEC, op)
        if error is not None and field not in op.image_fields
    ]


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_the_spec_oracles_422_reaches_the_caller_parsed(face, op):
    """validate=False, so the client sends what the server refuses; each case's 422 is
    FastAPI's, from the spec-built oracle, and the caller reads the same (loc, type).
    Each case on one face (the sync face takes every other case, the async the rest)."""
    client = face(ledger=False, validate=False)
    cases = _cases(op)[client.is_async :: 2]
    assert cases
    with respx.mock as api:
        route = api.post(origin(op) + op.path)
        if client.is_async:
            route.mock(side_effect=lambda request: ORACLE.answer_async(op.name, request.content))
        else:
            route.mock(side_effect=lambda request: ORACLE.answer(op.name, request.content))
        for field, value, error in cases:
            with pytest.raises(APIValidationError) as caught:
                _submit(client, op, **{field: value})
            detail = caught.value.detail
            assert isinstance(detail, HTTPValidationError), (field, value)
            assert [(e.loc, e.type_) for e in detail.detail] == [(["body", field], error)], (
                field,
                value,
            )
            # the server's own words, in the message a user reads
            assert f"{field}: {detail.detail[0].msg}" in str(caught.value), (field, value)


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_a_422_with_a_string_detail_keeps_the_servers_words(face, op):
    client = face(ledger=False)
    with respx.mock as api:
        api.post(origin(op) + op.path).respond(422, json={"detail": "Invalid API key format"})
        with pytest.raises(APIValidationError, match="Invalid API key format") as caught:
            _submit(client, op)
    assert caught.value.status_code == 422 and caught.value.detail is None


def test_a_422_the_spec_allows_without_detail_pickles_to_an_equal_error(face):
    """HTTPValidationError's detail is optional: parsed, it is the generated UNSET, which
    an unpickled error kept as a fresh object equal to nothing (`detail is UNSET` false)."""
    op = OPERATIONS[0]
    with respx.mock as api:
        api.post(origin(op) + op.path).respond(422, json={})
        with pytest.raises(APIValidationError) as caught:
            _submit(face(ledger=False), op)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.detail == caught.value.detail and copy.detail.detail is UNSET
