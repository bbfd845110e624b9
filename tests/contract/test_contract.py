"""The contract: local validation is the server's verdict; the wire carries the spec's types.

Everything is derived from openapi.json through spec_strategies; only the guard test pins
the seed's numbers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from flux_canny import FluxCanny, RequestValidationError, validate_inputs
from flux_canny._spec import Spec, packaged_spec
from flux_canny.fake import VirtualClock
from flux_canny.validation import RequestValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_image

from .oracle import oracle_client
from .spec_strategies import (
    boundary_cases,
    constrained_fields,
    minimal_body,
    mutated_bodies,
    valid_bodies,
)

SPEC = packaged_spec()
SUBMIT = "https://api.us1.bfl.ai/v1/flux-pro-1.0-canny-finetuned"
ORACLE = oracle_client()
#: 1,200 bodies in make test (ci profile), 20,000 in make test-thorough
ORACLE_BODIES = max(1000, 20 * settings().max_examples)
PNG = make_image()


def test_guard_the_seed_numbers_are_what_the_strategies_read():
    f = constrained_fields(SPEC)
    assert (f["steps"]["minimum"], f["steps"]["maximum"]) == (15, 50)
    for name in ("canny_low_threshold", "canny_high_threshold"):
        assert (f[name]["minimum"], f[name]["maximum"]) == (0, 500)
    assert (f["guidance"]["minimum"], f["guidance"]["maximum"]) == (1, 100)
    assert (f["finetune_strength"]["minimum"], f["finetune_strength"]["maximum"]) == (0, 2)
    assert (f["safety_tolerance"]["minimum"], f["safety_tolerance"]["maximum"]) == (0, 6)
    assert f["webhook_url"]["maxLength"] == 2083


def _verdict(errors: list[dict[str, Any]]) -> set[tuple[tuple[Any, ...], str]]:
    return {(tuple(e["loc"]), e["type"]) for e in errors}


def _oracle(body: Any) -> tuple[int, list[dict[str, Any]]]:
    response = ORACLE.post("/v1/flux-pro-1.0-canny-finetuned", json=body)
    return response.status_code, response.json().get(
        "detail", []
    ) if response.status_code == 422 else []


@pytest.mark.parametrize(
    ("field", "value", "error"), boundary_cases(SPEC), ids=lambda v: repr(v)[:40]
)
def test_boundaries_locally_and_on_the_wire(field, value, error):
    body = {**minimal_body(SPEC), field: value}
    with respx.mock(assert_all_called=False) as api:
        route = api.post(SUBMIT).respond(
            200, json={"id": "t", "polling_url": "https://api.us1.bfl.ai/r"}
        )
        flux = FluxCanny(api_key="k", clock=VirtualClock())
        params = {
            k: v for k, v in body.items() if k not in ("control_image", "prompt", "finetune_id")
        }

        def call():
            return flux.submit(
                control_image=PNG,
                prompt=body["prompt"],
                finetune_id=body["finetune_id"],
                **params,
            )

        if field == "control_image":
            pass  # the client builds control_image from a real image; judged below only
        elif error is None:
            call()
            sent = json.loads(route.calls.last.request.content)
            kind = constrained_fields(SPEC)[field]["type"]
            if value is None:
                assert sent[field] is None
            elif kind == "integer":
                assert type(sent[field]) is int and sent[field] == value
            elif kind == "number":
                assert isinstance(sent[field], int | float) and math.isclose(sent[field], value)
            else:
                assert sent[field] is not None
        else:
            with pytest.raises(RequestValidationError) as caught:
                call()
            assert (("body", field), error) in _verdict(caught.value.errors)
            assert route.call_count == 0
    # and the oracle (the server) agrees with the local verdict
    status, detail = _oracle(body)
    assert (status == 200) == (error is None)
    assert _verdict(detail) == _verdict(validate_inputs(body))


@pytest.mark.parametrize("missing", sorted(SPEC.request_schema()["required"]))
def test_missing_required_fields(missing):
    body = minimal_body(SPEC)
    del body[missing]
    assert _verdict(validate_inputs(body)) == {(("body", missing), "missing")}
    assert _verdict(_oracle(body)[1]) == {(("body", missing), "missing")}


def test_validate_inputs_agrees_with_the_oracle_on_thousands_of_bodies():
    seen = {"accepted": 0, "rejected": 0}

    @settings(
        max_examples=ORACLE_BODIES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(valid_bodies(SPEC), mutated_bodies(SPEC)))
    def agree(body):
        status, detail = _oracle(body)
        local = validate_inputs(body)
        assert (status == 200) == (local == []), (body, detail, local)
        assert _verdict(local) == _verdict(detail), body
        assert [e["msg"] for e in local] == [e["msg"] for e in detail]
        seen["accepted" if status == 200 else "rejected"] += 1

    agree()
    print(f"oracle agreement: {seen['accepted']} accepted, {seen['rejected']} rejected")
    assert seen["accepted"] + seen["rejected"] >= ORACLE_BODIES * 0.95
    assert seen["accepted"] > 100 and seen["rejected"] > 250


@settings(suppress_health_check=list(HealthCheck))
@given(valid_bodies(SPEC))
def test_valid_bodies_are_accepted_and_sent_losslessly(body):
    validator = RequestValidator(SPEC)
    assert validate_inputs(body) == []
    normalised = validator.normalise(body)
    from flux_canny_api.models import FinetuneCannyInputs

    wire = json.loads(json.dumps(FinetuneCannyInputs.from_dict(normalised).to_dict()))
    for name, value in body.items():
        if isinstance(value, str) and constrained_fields(SPEC)[name]["format"] == "uri":
            assert httpx.URL(wire[name]) == httpx.URL(
                str(validator.model.model_validate(body).webhook_url)
            )
        else:
            assert wire[name] == value


@settings(suppress_health_check=list(HealthCheck))
@given(valid_bodies(SPEC), st.data())
def test_one_mutated_field_is_rejected_at_that_field(body, data):
    candidates = [c for c in boundary_cases(SPEC) if c[2] is not None]
    field, value, error = data.draw(st.sampled_from(candidates))
    errors = validate_inputs({**body, field: value})
    assert _verdict(errors) == {(("body", field), error)}


def test_a_narrowed_spec_re_aims_the_suite(tmp_path: Path):
    document = json.loads(json.dumps(SPEC.document))
    steps = document["components"]["schemas"]["FinetuneCannyInputs"]["properties"]["steps"]
    steps["minimum"], steps["maximum"] = 20, 40
    (tmp_path / "openapi.json").write_text(json.dumps(document))
    narrowed = Spec.from_path(tmp_path / "openapi.json")
    cases = {(v, e) for f, v, e in boundary_cases(narrowed) if f == "steps"}
    assert {(20, None), (40, None), (19, "greater_than_equal"), (41, "less_than_equal")} <= cases
    validator = RequestValidator(narrowed)
    base = minimal_body(narrowed)
    for value, error in cases:
        assert _verdict(validator.errors({**base, "steps": value})) == (
            set() if error is None else {(("body", "steps"), error)}
        )
    assert validator.errors({**base, "steps": 15})  # legal before, not any more
