"""Every image-making endpoint of the spec, on both faces, against respx: what is sent where.

Parametrised over the spec's operations (nothing hand-listed): the POST goes to the
operation's path on its own server, its image fields carry the base64 of the images
given (an https URL where the spec takes one, as it is), and a field that is not the
endpoint's is refused before anything is sent.
"""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
import respx
from flux_canny import (
    AsyncFluxCanny,
    FluxCanny,
    InvalidArgumentError,
    RequestValidationError,
    UnknownParameterError,
    validate_inputs,
)
from flux_canny._operations import CANNY, Operation, operations, origin
from flux_canny._spec import packaged_spec

from tests.conftest import KEY, make_image

OPERATIONS = list(operations().values())
NAMES = [op.name for op in OPERATIONS]
WITH_URLS = [op for op in OPERATIONS if op.url_fields]


def _images(op: Operation) -> dict[str, bytes]:
    """A different image for each image field, so a swapped slot shows."""
    return {name: make_image(size=(64 + i, 48)) for i, name in enumerate(op.image_fields)}


def _fields(op: Operation, images: dict[str, object]) -> dict[str, object]:
    fields: dict[str, object] = dict(images)
    if "prompt" in op.field_names:
        fields["prompt"] = "a castle"
    if "finetune_id" in op.field_names:
        fields["finetune_id"] = "ft-1"
    return fields


@pytest.fixture
def api():
    with respx.mock(assert_all_called=False) as router:
        yield router


def _accept(api: respx.MockRouter, url: str) -> respx.Route:
    poll = f"{httpx.URL(url).scheme}://{httpx.URL(url).host}/v1/get_result?id=t1"
    return api.post(url).respond(200, json={"id": "t1", "polling_url": poll})


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_each_endpoint_sends_its_images_as_base64_to_its_own_server(face, api, op):
    """No base URL configured: the spec's server for the operation (BFL's global host for
    the published ones, the US cluster for the finetunes), the key sent to it."""
    images = _images(op)
    route = _accept(api, origin(op) + op.path)
    task = face(ledger=False).submit(endpoint=op.name, **_fields(op, images))
    assert task.id == "t1" and route.call_count == 1
    request = route.calls.last.request
    assert request.headers["x-key"] == KEY
    sent = json.loads(request.content)
    for name, image in images.items():
        assert base64.b64decode(sent[name]) == image, name
    assert sent.get("prompt", "a castle") == "a castle"
    assert set(sent) <= op.field_names


def _spec_server(op: Operation) -> str:
    """The server the spec document names for `op`: its entry's, else the document's (read
    here from the JSON itself, not through the client's routing)."""
    document = packaged_spec().document
    entry = document["paths"][op.path]
    servers = entry[op.method].get("servers") or entry.get("servers") or document["servers"]
    return str(servers[0]["url"]).rstrip("/")


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_with_no_base_url_each_operation_goes_to_the_server_its_spec_entry_names(face, op):
    """Finetuned operations to the US cluster, the rest to BFL's global host, the key with
    each; no request to any other host (respx refuses what is not routed)."""
    server = _spec_server(op)
    assert server == ("https://api.us1.bfl.ai" if op.finetuned else "https://api.bfl.ai")
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as api:
        route = _accept(api, server + op.path)
        face(ledger=False).submit(endpoint=op.name, **_fields(op, _images(op)))
        assert route.call_count == 1 and len(api.calls) == 1
        request = route.calls.last.request
    assert request.url.scheme == "https" and request.headers["x-key"] == KEY


@pytest.mark.parametrize("op", WITH_URLS, ids=[op.name for op in WITH_URLS])
def test_an_https_url_is_passed_through_where_the_spec_takes_one(face, api, op):
    url = "https://images.example/edges.png?x=1&y=2"
    first = sorted(op.url_fields)[0]
    route = _accept(api, origin(op) + op.path)
    face(ledger=False).submit(endpoint=op.name, **_fields(op, {first: url}))
    assert json.loads(route.calls.last.request.content)[first] == url


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_a_field_of_another_endpoint_is_refused_before_any_request(face, api, op):
    """Named as extra, with the endpoints that do take it: parameters copied from another
    model's example are the likely cause."""
    foreign = next(
        name
        for other in OPERATIONS
        for name in sorted(other.field_names - op.field_names)
        if other.name != op.name
    )
    with pytest.raises(UnknownParameterError, match=f"'{foreign}' is a field of ") as caught:
        face(ledger=False).submit(endpoint=op.name, **_fields(op, _images(op)), **{foreign: 1})
    assert [e["loc"] for e in caught.value.errors] == [["body", foreign]]
    assert not api.calls


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_a_misspelt_field_is_refused_with_the_endpoints_nearest(face, api, op):
    wanted = next(n for n in sorted(op.field_names) if len(n) > 4 and n not in op.image_fields)
    typo = wanted[:-2] + wanted[-1] + wanted[-2]
    with pytest.raises(UnknownParameterError, match=f"did you mean '{wanted}'"):
        face(ledger=False).prepare(endpoint=op.name, **_fields(op, _images(op)), **{typo: 1})
    assert not api.calls


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_a_configured_base_url_takes_every_endpoint(face, api, op, monkeypatch):
    monkeypatch.setenv("BFL_BASE_URL", "https://proxy.example/bfl")
    route = _accept(api, "https://proxy.example/bfl" + op.path)
    face(ledger=False).submit(endpoint=op.name, **_fields(op, _images(op)))
    assert route.call_count == 1


def test_the_seeds_endpoint_is_the_default_and_keeps_its_us_server(face, api, png):
    route = _accept(api, "https://api.us1.bfl.ai/v1/flux-pro-1.0-canny-finetuned")
    face(ledger=False).submit(control_image=png, prompt="a castle", finetune_id="ft-1")
    assert json.loads(route.calls.last.request.content)["control_image"] == (
        base64.b64encode(png).decode()
    )
    assert origin(operations()[CANNY]) == "https://api.us1.bfl.ai"


def test_the_key_goes_to_each_endpoints_server_even_with_no_trusted_hosts(face, api, png):
    """The spec's own servers are where the key belongs, whatever trusted_hosts says."""
    op = operations()["flux-2-pro"]
    route = _accept(api, origin(op) + op.path)
    face(ledger=False, trusted_hosts=[]).submit(endpoint=op.name, prompt="p")
    assert route.calls.last.request.headers["x-key"] == KEY


def test_an_unknown_endpoint_is_refused_with_a_suggestion_before_any_request(face, api, png):
    with pytest.raises(InvalidArgumentError, match="did you mean 'flux-2-pro'"):
        face(ledger=False).submit(endpoint="flux-2-por", prompt="p")
    assert not api.calls


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_validate_inputs_judges_the_named_endpoints_body(op):
    body = {**_fields(op, dict.fromkeys(op.image_fields, "aGk=")), "prompt": ["not text"]}
    assert validate_inputs({**body, "prompt": "a castle"}, op.name) == []
    for errors in (
        validate_inputs(body, endpoint=op.name),
        FluxCanny.validate_inputs(body, endpoint=op.name),
    ):
        assert [e["loc"][:2] for e in errors] == [["body", "prompt"]]


def test_a_value_out_of_an_endpoints_bounds_is_refused_before_any_request(face, api):
    with pytest.raises(RequestValidationError) as caught:
        face(ledger=False).submit(endpoint="flux-kontext-pro", prompt="p", aspect_ratio=3)
    assert caught.value.errors[0]["loc"] == ["body", "aspect_ratio"]
    assert not api.calls


def test_an_image_field_that_is_no_image_is_named(face, api):
    with pytest.raises(Exception, match="the input_image_2 image is not") as caught:
        face(ledger=False).submit(endpoint="flux-2-pro", prompt="p", input_image_2=b"no image")
    assert type(caught.value).__name__ == "ImageInputError" and not api.calls


def test_generate_many_jobs_may_name_their_endpoints(api, png):
    pro, canny = operations()["flux-2-pro"], operations()[CANNY]
    routes = [_accept(api, origin(op) + op.path) for op in (pro, canny)]
    jobs = [
        {"endpoint": "flux-2-pro", "prompt": "p", "input_image": png, "timeout": 0.01},
        {"control_image": png, "prompt": "p", "finetune_id": "f", "timeout": 0.01},
    ]

    async def run() -> list[object]:
        async with AsyncFluxCanny(api_key=KEY, ledger=False) as flux:
            return await flux.generate_many(jobs)

    api.get(url__regex=r".*/v1/get_result.*").respond(200, json={"id": "t1", "status": "Pending"})
    asyncio.run(run())
    assert [route.call_count for route in routes] == [1, 1]


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.required], ids=lambda op: op.name)
def test_a_missing_required_field_is_refused_even_unvalidated(face, api, op):
    """validate=False skips the checks, not the fields the body cannot be built without
    (a bare KeyError from the generated model, before)."""
    fields = _fields(op, _images(op))
    gone = sorted(op.required)[0]
    del fields[gone]
    for validate in (True, False):
        with pytest.raises(RequestValidationError) as caught:
            face(ledger=False).submit(endpoint=op.name, validate=validate, **fields)
        assert ["body", gone] in [e["loc"] for e in caught.value.errors]
    assert not api.calls


def test_a_prepared_body_goes_to_its_endpoints_server(face, api):
    """prepare() then submit_prepared(): the body remembers its endpoint (batches)."""
    op = operations()["flux-pro-1.0-expand"]
    route = _accept(api, origin(op) + op.path)
    flux = face(ledger=False)
    body = flux.prepare(endpoint=op.name, image=make_image(), top=64)
    flux.submit_prepared(body)
    sent = json.loads(route.calls.last.request.content)
    assert (sent["top"], base64.b64decode(sent["image"])) == (64, make_image())
