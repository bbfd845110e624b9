"""An adversary's calls on the multi-endpoint client, through the public API only: each
wrong argument of every endpoint's calls is a typed error raised before anything is sent,
so nothing is paid for.

Each test here failed on the code before its fix: `generate(timeout=nan)` submitted, was
paid for, and only then refused the timeout; a callback that is no function was a bare
TypeError after the submit.
"""

from __future__ import annotations

import asyncio
import json
import math
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from flux_canny import (
    AsyncFluxCanny,
    ConfigurationError,
    FluxCanny,
    FluxCannyError,
    InvalidArgumentError,
    PollPolicy,
    RequestValidationError,
    Task,
    UnknownParameterError,
)
from flux_canny.fake import FakeBFL, VirtualClock

from ..conftest import KEY, make_image

#: an image on a delivery host (not an API host)
SAMPLE = "https://delivery-eu1.bfl.ai/results/t1/sample.png"
#: one endpoint on each server (BFL's global host, the US cluster), and the seed's
ENDPOINTS = ("flux-kontext-pro", "flux-pro-1.1-ultra-finetuned", "flux-pro-1.0-canny-finetuned")


def _fields(endpoint: str) -> dict[str, Any]:
    """A request `endpoint` would take, but for the argument under test."""
    png = make_image(size=(64, 48))
    return {
        "flux-kontext-pro": {"prompt": "a red cube", "input_image": png},
        "flux-pro-1.1-ultra-finetuned": {"prompt": "a red cube", "finetune_id": "my-finetune"},
        "flux-pro-1.0-canny-finetuned": {
            "prompt": "a red cube",
            "control_image": png,
            "finetune_id": "my-finetune",
        },
    }[endpoint]


def _generate(face: str, fake: FakeBFL, ledger: Path, **kwargs: Any) -> Any:
    options = {
        "api_key": fake.api_key,
        "transport": fake.transport(),
        "clock": fake.clock,
        "ledger": ledger,
    }
    if face == "sync":
        with FluxCanny(**options) as flux:
            return flux.generate(**kwargs)

    async def run() -> Any:
        async with AsyncFluxCanny(**options) as flux:
            return await flux.generate(**kwargs)

    return asyncio.run(run())


def _refused(error: FluxCannyError, fake: FakeBFL, ledger: Path) -> None:
    """Nothing reached the server, nothing was written down as sent, and the error is
    whole after a pickle round trip."""
    assert not fake.requests and not fake.tasks_created
    from flux_canny.ledger import Ledger

    with Ledger(ledger) as book:
        assert book.entries() == []
    assert error.task_id is None
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)


@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("timeout", [math.nan, "5"])  # the rest: check_number's own tests
def test_generate_refuses_a_timeout_that_is_no_duration_before_the_submit(
    face, endpoint, timeout, tmp_path
):
    fake = FakeBFL(clock=VirtualClock(), task_duration=1.0)
    ledger = tmp_path / "ledger.db"
    with pytest.raises(ConfigurationError, match="timeout must be") as caught:
        _generate(face, fake, ledger, endpoint=endpoint, timeout=timeout, **_fields(endpoint))
    _refused(caught.value, fake, ledger)


@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("callback", ["on_update", "on_submit"])
def test_generate_refuses_a_callback_that_is_no_function_before_the_submit(
    face, endpoint, callback, tmp_path
):
    fake = FakeBFL(clock=VirtualClock(), task_duration=1.0)
    ledger = tmp_path / "ledger.db"
    with pytest.raises(InvalidArgumentError, match=f"{callback} must be a function") as caught:
        _generate(face, fake, ledger, endpoint=endpoint, **{callback: "print"}, **_fields(endpoint))
    _refused(caught.value, fake, ledger)


@pytest.mark.parametrize("call", ["wait", "resume"])
def test_wait_refuses_an_on_update_that_is_no_function_before_any_poll(face, call):
    fake = FakeBFL(clock=VirtualClock(), task_duration=1.0)
    flux = face(api_key=fake.api_key, transport=fake.transport(), clock=fake.clock, ledger=False)
    with pytest.raises(InvalidArgumentError, match="on_update must be a function"):
        getattr(flux, call)("t1", on_update=5)
    assert not fake.requests


#: values JSON has no form for: each reached the encoder with validate=False
UNSENDABLE = [
    pytest.param(math.nan, "Input should be a finite number", id="nan"),
    pytest.param(-math.inf, "Input should be a finite number", id="inf"),
    pytest.param(b"bytes", "Input cannot be sent as JSON", id="bytes"),
    pytest.param(object(), "Input cannot be sent as JSON", id="object"),
    pytest.param(["\ud800"], "Input cannot be sent as JSON", id="nested-surrogate"),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(("value", "says"), UNSENDABLE)
def test_an_unchecked_field_json_cannot_hold_is_refused_naming_it(face, endpoint, value, says):
    """`validate=False` skips the schema, not the rule that nothing raw comes out: the
    field is named, and nothing is sent."""
    fake = FakeBFL(clock=VirtualClock(), task_duration=1.0)
    flux = face(api_key=fake.api_key, transport=fake.transport(), clock=fake.clock, ledger=False)
    fields = {**_fields(endpoint), "seed": value}
    with pytest.raises(RequestValidationError, match=f"seed: {says}") as caught:
        flux.generate(endpoint=endpoint, validate=False, **fields)
    assert [e["loc"] for e in caught.value.errors] == [["body", "seed"]]
    assert not fake.requests
    pickle.loads(pickle.dumps(caught.value))


@pytest.mark.parametrize("validate", [True, False])
def test_an_unknown_field_holding_what_pickle_cannot_take_still_makes_a_picklable_error(
    face, validate
):
    """Errors pickle (to a worker process and back): the unknown field's value is kept
    as text, not as the lambda or lock it was."""
    flux = face(ledger=False)
    fields = {**_fields("flux-kontext-pro"), "input_image_9": lambda: 0}
    with pytest.raises(UnknownParameterError, match="input_image_9") as caught:
        flux.prepare(endpoint="flux-kontext-pro", validate=validate, **fields)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value)
    assert copy.errors[0]["input"].startswith("<function")


def _many(fake: FakeBFL, jobs: list[dict[str, Any]], **options: Any) -> list[Any]:
    async def run() -> list[Any]:
        async with AsyncFluxCanny(
            api_key=fake.api_key, transport=fake.transport(), clock=fake.clock, ledger=False
        ) as flux:
            return await flux.generate_many(jobs, **options)

    return asyncio.run(run())


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("timeout", math.nan, ConfigurationError),
        ("on_update", 5, InvalidArgumentError),
        ("on_submit", "print", InvalidArgumentError),
    ],
)
def test_a_batch_job_with_a_wrong_wait_option_is_refused_before_its_submit(
    endpoint, option, value, error
):
    """The job's outcome is the typed error, and its task was never made."""
    fake = FakeBFL(clock=VirtualClock(), task_duration=1.0)
    job = {"endpoint": endpoint, **_fields(endpoint), option: value}
    [outcome] = _many(fake, [job])
    assert isinstance(outcome, error) and option in str(outcome)
    assert outcome.task_id is None and not fake.tasks_created


@pytest.mark.parametrize("option", ["on_submit", "on_done"])
def test_a_batch_callback_that_is_no_function_is_refused_before_any_submit(option):
    fake = FakeBFL(clock=VirtualClock(), task_duration=1.0)
    job = {"endpoint": "flux-kontext-pro", **_fields("flux-kontext-pro")}
    with pytest.raises(InvalidArgumentError, match=f"{option} must be a function"):
        _many(fake, [job], **{option: 5})
    assert not fake.requests


@pytest.mark.parametrize("header", ["X-Key"])  # headers are case-insensitive
def test_an_http_client_that_holds_the_key_in_its_headers_sends_it_to_no_delivery_host(
    face, header
):
    """BFL's examples build a client with the key in its default headers; passed in, it
    sent the key to the delivery host with the image download. Polls on another regional
    host of BFL keep it (trusted); the sample's host never sees it."""
    png = make_image(size=(64, 48))
    with respx.mock(assert_all_called=True) as api:
        api.post("https://api.bfl.ai/v1/flux-kontext-pro").respond(
            200, json={"id": "t1", "polling_url": "https://api.eu1.bfl.ai/v1/get_result?id=t1"}
        )
        ready = {"id": "t1", "status": "Ready", "result": {"sample": SAMPLE}}
        api.get("https://api.eu1.bfl.ai/v1/get_result").respond(200, json=ready)
        sample = api.get(SAMPLE).respond(200, content=png)
        probe = face(ledger=False)
        http = (httpx.AsyncClient if probe.is_async else httpx.Client)(headers={header: KEY})
        flux = face(api_key=KEY, ledger=False, http_client=http, poll=PollPolicy.fixed(0.01))
        flux.generate(endpoint="flux-kontext-pro", prompt="a cube", input_image=png)
        assert [c.request.headers.get("x-key") for c in api.calls] == [KEY, KEY, None]
        assert sample.called


@pytest.mark.parametrize("call", ["get_result", "wait", "resume"])
def test_a_task_the_ledger_recorded_under_a_retired_endpoint_is_polled_where_it_was_sent(
    face, call, tmp_path, monkeypatch
):
    """BFL retires endpoints; a task of one, paid for and recorded without its polling
    URL, is fetched by its id from the origin its row was sent to (it was refused as
    "no endpoint named ...", with no task id)."""
    from flux_canny.ledger import Ledger

    monkeypatch.delenv("BFL_BASE_URL", raising=False)
    path = tmp_path / "ledger.db"
    with Ledger(path) as book:
        row = book.sending(
            base_url="https://api.eu1.bfl.ai", prompt="p", operation="flux-pro-1.0-depth-finetuned"
        )
        book.submitted(row, "t1", None)
    png = make_image(size=(64, 48))
    ready = {"id": "t1", "status": "Ready", "result": {"sample": SAMPLE}}
    with respx.mock(assert_all_called=False) as api:
        poll = api.get("https://api.eu1.bfl.ai/v1/get_result", params={"id": "t1"})
        poll.respond(200, json=ready)
        api.get(SAMPLE).respond(200, content=png)
        outcome = getattr(face(ledger=path), call)("t1")
    assert poll.called and {c.request.url.host for c in api.calls} <= {
        "api.eu1.bfl.ai",
        "delivery-eu1.bfl.ai",
    }
    assert outcome.task_id == "t1" if call == "resume" else outcome.id == "t1"


@pytest.mark.parametrize("call", ["get_result", "wait", "resume"])
def test_a_task_given_an_unknown_endpoint_is_refused_naming_the_task(face, call, monkeypatch):
    monkeypatch.delenv("BFL_BASE_URL", raising=False)
    with respx.mock(assert_all_called=False) as api:
        with pytest.raises(InvalidArgumentError, match="no endpoint named 'nope'") as caught:
            getattr(face(ledger=False), call)(Task(id="t1", operation="nope"))
        assert not api.calls
    assert caught.value.task_id == "t1"


@pytest.mark.parametrize("address", ["HTTPS://img.example.com/a.png", "Https://img.example.com/a"])
def test_an_https_address_in_any_case_is_passed_on_to_a_field_that_takes_one(face, address):
    """URL schemes are case-insensitive: the address is sent as given, never fetched."""
    flux = face(ledger=False)
    body = flux.prepare(endpoint="flux-kontext-pro", prompt="p", input_image_2=address)
    assert json.loads(body.to_bytes())["input_image_2"] == address


class _ReadsWhole:
    """A file-like object whose read() takes no size."""

    def read(self) -> bytes:
        return make_image()


@pytest.mark.parametrize("endpoint", ["flux-kontext-pro", "flux-pro-1.0-fill"])
@pytest.mark.parametrize("kind", ["closed", "sizeless"])
def test_a_file_object_that_cannot_be_read_is_an_image_input_error_naming_its_field(
    face, endpoint, kind
):
    import io

    from flux_canny import ImageInputError
    from flux_canny._operations import operations

    first, *_, field = operations()[endpoint].image_fields  # the first may be required
    handle: Any = _ReadsWhole() if kind == "sizeless" else io.BytesIO(make_image())
    if kind == "closed":
        handle.close()
    with pytest.raises(ImageInputError, match=f"cannot read the {field} .*file object") as caught:
        face(ledger=False).prepare(
            endpoint=endpoint, prompt="p", **{first: make_image(), field: handle}
        )
    pickle.loads(pickle.dumps(caught.value))


def test_a_finetune_id_that_cannot_become_utf8_is_refused_before_any_request(face):
    """A lone surrogate (a mis-decoded name) failed in httpx's URL encoder, raw."""
    with respx.mock(assert_all_called=False) as api:
        with pytest.raises(RequestValidationError, match="finetune_id: Input should be a valid"):
            face(ledger=False).finetune_details("ft-\ud800")
        assert not api.calls


def test_a_refused_webhook_secret_is_in_no_error():
    """A webhook's secret, refused itself or inside a body refused as a whole, is masked in
    the error's `input`, which users log and print."""
    from flux_canny import validate_inputs

    said = validate_inputs({"webhook_secret": "s3cret-hook", "steps": 3}, endpoint=ENDPOINTS[2])
    assert said and "s3cret-hook" not in repr(said)
    flux = FluxCanny(api_key=KEY, ledger=False)
    with pytest.raises(RequestValidationError) as caught:
        flux.prepare(endpoint="flux-2-pro", prompt="p", webhook_secret=["s3cret-hook"])
    assert "s3cret-hook" not in repr(caught.value.errors) + str(caught.value)
