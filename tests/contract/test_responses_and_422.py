"""Responses round-trip without loss; the server's 422 reaches the caller intact."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from flux_canny import APIValidationError, FluxCanny, Result, SubmitUncertainError
from flux_canny._spec import packaged_spec
from flux_canny.fake import VirtualClock
from flux_canny_api.models import (
    AsyncResponse,
    AsyncWebhookResponse,
    CreditsResponse,
    HTTPValidationError,
    ResultResponse,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_image

from .oracle import oracle_client
from .spec_strategies import answer_bodies, boundary_cases, minimal_body

SPEC = packaged_spec()
SUBMIT = "https://api.us1.bfl.ai/v1/flux-pro-1.0-canny-finetuned"
ORACLE = oracle_client()


def component(name: str) -> st.SearchStrategy[Any]:
    return answer_bodies(SPEC, {"$ref": f"#/components/schemas/{name}"})


ROUND_TRIP = settings(suppress_health_check=list(HealthCheck), deadline=None)


def _submit_answered_with(body: dict[str, Any]) -> Any:
    """The Task the wrapper makes of a submit answered with `body`."""
    with respx.mock as api:
        api.post(SUBMIT).respond(200, json=body)
        client = FluxCanny(api_key="k", clock=VirtualClock())
        return client.submit(control_image=make_image(), prompt="p", finetune_id="f")


@ROUND_TRIP
@given(component("AsyncResponse"))
def test_async_response_round_trips_through_the_model_and_the_wrapper(body):
    assert AsyncResponse.from_dict(body).to_dict() == body
    try:
        httpx.URL(body["polling_url"])
    except httpx.InvalidURL:  # a string, as the spec allows, but no URL to poll
        with pytest.raises(SubmitUncertainError, match="is not a URL") as caught:
            _submit_answered_with(body)
        assert caught.value.task_id == body["id"]  # read once, where it arrived
        return
    task = _submit_answered_with(body)
    assert (task.id, task.polling_url, dict(task.raw)) == (body["id"], body["polling_url"], body)


@ROUND_TRIP
@given(component("AsyncWebhookResponse"))
def test_webhook_response_round_trips(body):
    assert AsyncWebhookResponse.from_dict(body).to_dict() == body
    task = _submit_answered_with(body)
    assert (task.id, task.webhook_url, task.status) == (
        body["id"],
        body["webhook_url"],
        body["status"],
    )


@ROUND_TRIP
@given(component("ResultResponse"))
def test_result_response_round_trips(body):
    assert ResultResponse.from_dict(body).to_dict() == body
    result = Result.from_body(body, "fallback")
    assert dict(result.raw) == body and result.status == body["status"] and result.id == body["id"]
    assert result.model is not None and result.model.to_dict() == body


@ROUND_TRIP
@given(component("ResultResponse"), st.text(min_size=1, max_size=12))
def test_a_status_outside_the_enum_does_not_crash_the_wrapper(body, status):
    # statuses are read without regard to case ("ready" is Ready), so outside the enum
    # means outside it in any case
    statuses = {value.casefold() for value in SPEC.enum_values("StatusResponse")}
    body = {**body, "status": status if status.casefold() not in statuses else status + "?"}
    result = Result.from_body(json.loads(json.dumps(body)), "fallback")
    assert result.status == body["status"] and result.model is None
    assert not result.is_ready


@ROUND_TRIP
@given(component("HTTPValidationError"))
def test_http_validation_error_round_trips(body):
    assert HTTPValidationError.from_dict(body).to_dict() == body


def _oracle_route(request: httpx.Request) -> httpx.Response:
    answer = ORACLE.post(
        "/v1/flux-pro-1.0-canny-finetuned",
        content=request.content,
        headers={"content-type": "application/json"},
    )
    return httpx.Response(
        answer.status_code, content=answer.content, headers={"content-type": "application/json"}
    )


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [c for c in boundary_cases(SPEC) if c[2] and c[0] != "control_image"],
    ids=lambda v: repr(v)[:30],
)
def test_the_servers_422_reaches_the_caller_parsed(field, value, error):
    body = {**minimal_body(SPEC), field: value}
    params = {k: v for k, v in body.items() if k not in ("control_image", "prompt", "finetune_id")}
    with respx.mock as api:
        api.post(SUBMIT).mock(side_effect=_oracle_route)
        flux = FluxCanny(api_key="k", clock=VirtualClock(), validate=False)
        with pytest.raises(APIValidationError) as caught:
            flux.submit(
                control_image=make_image(),
                prompt=body["prompt"],
                finetune_id=body["finetune_id"],
                **params,
            )
    detail = caught.value.detail
    assert isinstance(detail, HTTPValidationError)
    assert [(e.loc, e.type_) for e in detail.detail] == [(["body", field], error)]


@ROUND_TRIP
@given(component("CreditsResponse"))
def test_credits_response_round_trips_and_reaches_the_caller(body):
    """GET /v1/credits, copied from BFL's spec history: any balance the spec allows comes
    back to the caller as the number it is."""
    assert CreditsResponse.from_dict(body).to_dict() == body
    with respx.mock(assert_all_called=False) as api:
        api.get("https://api.us1.bfl.ai/v1/credits").respond(200, json=body)
        with FluxCanny(api_key="k", ledger=False) as flux:
            assert flux.credits() == float(body["credits"])
