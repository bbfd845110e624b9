"""The generated package speaks the spec: path, x-key, field names, the 422 model."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import respx
from flux_canny_api.api.models import (
    flux_pro_1_0_canny_finetuned_v1_flux_pro_1_0_canny_finetuned_post as canny_post,
)
from flux_canny_api.client import AuthenticatedClient
from flux_canny_api.models import AsyncResponse, FinetuneCannyInputs, HTTPValidationError
from flux_canny_api.models.finetune_canny_output_format import FinetuneCannyOutputFormat

BASE = "https://api.us1.bfl.ai"


def _client() -> AuthenticatedClient:
    return AuthenticatedClient(base_url=BASE, token="k-123", prefix="", auth_header_name="x-key")


@respx.mock
def test_generated_client_posts_the_body_with_x_key_to_the_canny_path():
    route = respx.post(f"{BASE}/v1/flux-pro-1.0-canny-finetuned").respond(
        200, json={"id": "t1", "polling_url": f"{BASE}/v1/get_result?id=t1"}
    )
    body = FinetuneCannyInputs(
        finetune_id="ft",
        prompt="a cat",
        control_image="aGk=",
        steps=30,
        output_format=FinetuneCannyOutputFormat.PNG,
        seed=7,
    )
    response = canny_post.sync_detailed(client=_client(), body=body)
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["x-key"] == "k-123"
    assert request.headers["content-type"] == "application/json"
    sent = json.loads(request.content)
    assert sent["finetune_id"] == "ft" and sent["prompt"] == "a cat"
    assert sent["control_image"] == "aGk=" and sent["steps"] == 30
    assert sent["output_format"] == "png" and sent["seed"] == 7
    spec = json.loads((Path(__file__).resolve().parents[2] / "openapi.json").read_text())
    assert set(sent) <= set(spec["components"]["schemas"]["FinetuneCannyInputs"]["properties"])
    assert isinstance(response.parsed, AsyncResponse)
    assert response.parsed.polling_url.endswith("id=t1")


@respx.mock
def test_generated_client_parses_a_fastapi_422_into_http_validation_error():
    detail = [
        {
            "loc": ["body", "steps"],
            "msg": "Input should be less than or equal to 50",
            "type": "less_than_equal",
            "input": 51,
            "ctx": {"le": 50},
        }
    ]
    respx.post(f"{BASE}/v1/flux-pro-1.0-canny-finetuned").respond(422, json={"detail": detail})
    body = FinetuneCannyInputs(finetune_id="ft", prompt="p", control_image="aGk=", steps=51)
    response = canny_post.sync_detailed(client=_client(), body=body)
    assert response.status_code == 422
    parsed = response.parsed
    assert isinstance(parsed, HTTPValidationError)
    error = parsed.detail[0]
    assert error.loc == ["body", "steps"]
    assert error.type_ == "less_than_equal"
    assert error.msg == "Input should be less than or equal to 50"


def test_httpx_is_what_the_generated_client_uses():
    assert isinstance(_client().get_httpx_client(), httpx.Client)
