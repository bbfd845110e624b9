"""FluxCanny and AsyncFluxCanny against respx mocks: every status, retry rule and guard.

Each test runs on both faces (the `face` fixture); the virtual clock makes waits instant
and records every sleep, so Retry-After and backoff are asserted exactly.
"""

from __future__ import annotations

import base64
import io
import json
import logging

import httpx
import numpy as np
import pytest
import respx
from flux_canny import (
    APIStatusError,
    APIValidationError,
    AuthenticationError,
    FluxCannyError,
    GenerationError,
    ImageInputError,
    MissingAPIKeyError,
    ModerationError,
    RateLimitError,
    RequestValidationError,
    SampleExpiredError,
    SubmitUncertainError,
    Task,
    TaskNotFoundError,
    UntrustedURLError,
    WaitTimeoutError,
)
from flux_canny_api.models import HTTPValidationError
from PIL import Image

from tests.conftest import BASE, KEY, make_image

SUBMIT = f"{BASE}/v1/flux-pro-1.0-canny-finetuned"
POLL = f"{BASE}/v1/get_result"
SAMPLE = "https://delivery-eu1.bfl.ai/results/t1/sample.png?sig=abc"
ARGS = {"prompt": "a castle", "finetune_id": "ft-1"}


def pending(progress=None, status="Pending"):
    return httpx.Response(200, json={"id": "t1", "status": status, "progress": progress})


def ready(sample=SAMPLE, seed=42):
    return httpx.Response(
        200, json={"id": "t1", "status": "Ready", "result": {"sample": sample, "seed": seed}}
    )


def accepted(polling_url=f"{POLL}?id=t1"):
    return httpx.Response(200, json={"id": "t1", "polling_url": polling_url})


def no_key_anywhere(*errors: BaseException) -> None:
    for error in errors:
        assert KEY not in str(error) and KEY not in repr(error)


@pytest.fixture
def api():
    with respx.mock(assert_all_called=False) as router:
        yield router


def test_generate_end_to_end_writes_a_valid_image(face, api, png, tmp_path, clock):
    api.post(SUBMIT).mock(return_value=accepted())
    api.get(POLL).mock(side_effect=[pending(0.2), pending(None, "Generating"), ready()])
    download = api.get(SAMPLE).respond(200, content=png, headers={"content-type": "image/png"})
    updates = []
    image = face().generate(control_image=png, steps="30", on_update=updates.append, **ARGS)
    path = image.save(tmp_path / "out" / "castle.png")
    assert Image.open(path).size == (64, 48)
    assert (image.format, image.task_id, image.seed) == ("png", "t1", 42)
    assert [u.status for u in updates] == ["Pending", "Generating", "Ready"]
    assert not list(tmp_path.glob("out/.*part"))  # no temporary file left behind
    submit = api.calls[0].request
    assert submit.headers["x-key"] == KEY
    body = json.loads(submit.content)
    assert body["steps"] == 30 and body["prompt"] == "a castle" and "guidance" not in body
    assert all(
        c.request.headers.get("x-key") == KEY
        for c in api.calls
        if c.request.url.path == "/v1/get_result"
    )
    assert "x-key" not in download.calls.last.request.headers


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("Request Moderated", ModerationError),
        ("Content Moderated", ModerationError),
        ("Error", GenerationError),
        ("Failed", GenerationError),
        ("Task not found", TaskNotFoundError),
    ],
)
def test_final_statuses_raise_typed_errors_naming_the_task(face, api, png, status, error):
    api.post(SUBMIT).mock(return_value=accepted())
    answers = iter([pending(0.5)])
    api.get(POLL).mock(
        side_effect=lambda request: next(
            answers, httpx.Response(200, json={"id": "t1", "status": status})
        )
    )
    with pytest.raises(error) as caught:
        face().generate(control_image=png, **ARGS)
    assert caught.value.task_id == "t1" and caught.value.status == status
    assert caught.value.polling_url == f"{POLL}?id=t1"
    no_key_anywhere(caught.value)


def test_unknown_statuses_keep_polling_and_are_logged(face, api, caplog):
    api.get(POLL).mock(
        side_effect=[pending(status="Generating"), pending(status="Queued"), ready()]
    )
    with caplog.at_level(logging.WARNING, "flux_canny"):
        result = face().wait(Task(id="t1", polling_url=f"{POLL}?id=t1"))
    assert result.is_ready and result.sample == SAMPLE
    # "Generating" is a live status (not in the spec, seen in live runs): no warning
    assert sum("does not list" in r.message for r in caplog.records) == 1


def test_wait_timeout_carries_the_task_id_and_polling_url(face, api, clock):
    api.get(POLL).mock(return_value=pending())
    with pytest.raises(WaitTimeoutError) as caught:
        face().wait(Task(id="t1", polling_url=f"{POLL}?id=t1"), timeout=5)
    assert caught.value.task_id == "t1" and caught.value.polling_url == f"{POLL}?id=t1"
    assert sum(clock.sleeps) == pytest.approx(5, abs=0.01)
    assert isinstance(caught.value, TimeoutError)


@pytest.mark.parametrize(
    "fault",
    [
        httpx.Response(503),
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(520),  # Cloudflare's; not in Python's HTTPStatus
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("drop"),
        httpx.Response(200, content=b"{not json"),
    ],
)
def test_polls_retry_transient_failures(face, api, fault):
    api.get(POLL).mock(side_effect=[fault, fault, ready()])
    result = face().wait(Task(id="t1", polling_url=f"{POLL}?id=t1"))
    assert result.is_ready and api.calls.call_count == 3


def test_poll_429_honours_retry_after(face, api, clock):
    api.get(POLL).mock(side_effect=[httpx.Response(429, headers={"retry-after": "7"}), ready()])
    face().wait(Task(id="t1", polling_url=f"{POLL}?id=t1"))
    assert 7 in clock.sleeps


def test_poll_retries_are_bounded(face, api):
    api.get(POLL).mock(return_value=httpx.Response(500, json={"detail": "boom"}))
    with pytest.raises(APIStatusError) as caught:
        face().wait(Task(id="t1", polling_url=f"{POLL}?id=t1"))
    assert caught.value.status_code == 500 and caught.value.task_id == "t1"
    assert api.calls.call_count == 5  # 1 + RetryPolicy.max_retries


@pytest.mark.parametrize(
    "fault",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("dropped"),
        httpx.ReadError("reset"),
        httpx.Response(200, content=b'{"id": "tr'),
    ],
)
def test_submit_is_sent_exactly_once_when_the_outcome_is_ambiguous(face, api, png, fault):
    route = api.post(SUBMIT).mock(side_effect=[fault, accepted()])
    with pytest.raises(SubmitUncertainError) as caught:
        face().submit(control_image=png, **ARGS)
    assert route.call_count == 1
    assert "may exist" in str(caught.value)
    no_key_anywhere(caught.value)


@pytest.mark.parametrize(
    "fault",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("no connect"),
        httpx.Response(429, headers={"retry-after": "3"}),
    ],
)
def test_submit_retries_only_where_no_task_can_exist(face, api, png, fault, clock):
    route = api.post(SUBMIT).mock(side_effect=[fault, accepted()])
    task = face().submit(control_image=png, **ARGS)
    assert task.id == "t1" and route.call_count == 2
    if isinstance(fault, httpx.Response) and fault.status_code == 429:
        assert clock.sleeps == [3]


@pytest.mark.parametrize("status", [500, 502, 503, 504, 520, 530])
def test_submit_is_not_retried_after_a_5xx_that_may_have_created_a_task(face, api, png, status):
    # BFL's own SDK never retries a 5xx on a POST: the task may exist and be billed
    route = api.post(SUBMIT).respond(status, json={"detail": "upstream said no"})
    client = face()
    with pytest.raises(SubmitUncertainError, match="may exist and be billed") as caught:
        client.submit(control_image=png, **ARGS)
    assert route.call_count == 1
    assert caught.value.status_code == status and caught.value.body == {
        "detail": "upstream said no"
    }
    (row,) = client.client.ledger.entries()
    assert row.state == "uncertain" and row.task_id is None


def test_submit_rate_limit_gives_up_after_its_budget(face, api, png):
    route = api.post(SUBMIT).respond(429, json={"detail": "too many"}, headers={"retry-after": "1"})
    with pytest.raises(RateLimitError) as caught:
        face().submit(control_image=png, **ARGS)
    assert route.call_count == 9 and caught.value.retry_after == 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_is_an_authentication_error(face, api, png, status):
    api.post(SUBMIT).respond(status, json={"detail": "Not authenticated"})
    with pytest.raises(AuthenticationError) as caught:
        face().submit(control_image=png, **ARGS)
    assert "BFL_API_KEY" in str(caught.value)
    no_key_anywhere(caught.value)


def test_server_422_is_parsed_into_the_generated_model(face, api, png):
    detail = [
        {
            "loc": ["body", "steps"],
            "msg": "Input should be less than or equal to 50",
            "type": "less_than_equal",
        }
    ]
    api.post(SUBMIT).respond(422, json={"detail": detail})
    with pytest.raises(APIValidationError) as caught:
        face().submit(control_image=png, steps=99, validate=False, **ARGS)
    assert isinstance(caught.value.detail, HTTPValidationError)
    assert caught.value.detail.detail[0].loc == ["body", "steps"]
    assert caught.value.errors == detail and caught.value.status_code == 422
    assert json.loads(api.calls.last.request.content)["steps"] == 99


def test_local_validation_rejects_before_any_request(face, api, png):
    route = api.post(SUBMIT).mock(return_value=accepted())
    with pytest.raises(RequestValidationError) as caught:
        face().submit(control_image=png, steps=51, guidance="lots", **ARGS)
    assert {tuple(e["loc"]) for e in caught.value.errors} == {
        ("body", "steps"),
        ("body", "guidance"),
    }
    assert route.call_count == 0


def test_a_misspelt_parameter_is_refused_with_a_suggestion(face, api, png):
    """A TypeError, as for any unknown keyword, and a FluxCannyError like every refusal:
    parameters often come from data (`generate(**settings)`), not code."""
    with pytest.raises(TypeError, match="did you mean 'steps'") as caught:
        face().submit(control_image=png, stpes=20, **ARGS)
    assert isinstance(caught.value, RequestValidationError)  # so a FluxCannyError
    assert [(e["loc"], e["type"]) for e in caught.value.errors] == [
        (["body", "stpes"], "extra_forbidden")
    ]
    assert api.calls.call_count == 0


def test_polling_url_on_a_foreign_host_is_refused(face, api, png):
    api.post(SUBMIT).mock(return_value=accepted("https://evil.example/v1/get_result?id=t1"))
    evil = api.get(url__startswith="https://evil.example")
    with pytest.raises(UntrustedURLError) as caught:
        face().generate(control_image=png, **ARGS)
    assert caught.value.task_id == "t1" and evil.call_count == 0


def test_trusted_hosts_are_configurable_and_https_only(face, api):
    api.get("https://poll.example.com/r").mock(return_value=ready())
    client = face(trusted_hosts=["*.example.com"])
    assert client.wait(Task(id="t1", polling_url="https://poll.example.com/r")).is_ready
    with pytest.raises(UntrustedURLError):
        client.wait(Task(id="t1", polling_url="http://poll.example.com/r"))


def test_polling_falls_back_to_get_result_when_there_is_no_polling_url(face, api):
    route = api.get(POLL, params={"id": "t9"}).mock(return_value=ready())
    face().wait(Task(id="t9"))
    assert route.call_count == 1


def test_a_base_url_with_a_path_prefix_keeps_it_for_every_operation(face, api, png):
    proxy = "https://proxy.example.com/bfl"
    submit = api.post(f"{proxy}/v1/flux-pro-1.0-canny-finetuned").mock(return_value=accepted())
    poll = api.get(f"{proxy}/v1/get_result", params={"id": "t1"}).mock(return_value=ready())
    client = face(base_url=proxy)
    assert client.submit(control_image=png, **ARGS).id == "t1"
    client.wait(Task(id="t1"))  # no polling URL: the client builds one under the prefix
    assert submit.call_count == 1 and poll.call_count == 1


def test_webhook_submissions_return_the_acknowledgement(face, api, png):
    api.post(SUBMIT).respond(
        200, json={"id": "t1", "status": "Pending", "webhook_url": "https://hook.example/x"}
    )
    task = face().submit(control_image=png, webhook_url="https://hook.example/x", **ARGS)
    assert (task.id, task.polling_url, task.webhook_url) == ("t1", None, "https://hook.example/x")


def test_a_refused_sample_url_is_refreshed_with_back_off_then_reported(face, api, png, clock):
    fresh = "https://delivery-eu1.bfl.ai/results/t1/sample.png?sig=new"
    api.get(POLL).mock(side_effect=[ready()] + [ready(fresh)] * 20)
    api.get(SAMPLE).respond(403, text="AuthenticationFailed")
    api.get(fresh).respond(200, content=png)
    client = face()
    result = client.get_result(Task(id="t1", polling_url=f"{POLL}?id=t1"))
    assert client.download(result).data == png
    api.get(fresh).respond(410)
    started = clock.monotonic()
    with pytest.raises(SampleExpiredError, match=r"refused its result URL 5 time\(s\)"):
        client.download(client.get_result(Task(id="t1", polling_url=f"{POLL}?id=t1")))
    assert api.get(fresh).call_count == 1 + 5
    assert clock.monotonic() - started >= 7  # asked again after 1, 2 and 4 s


def test_the_key_never_reaches_the_delivery_host_even_if_trusted(face, api, png):
    api.get(SAMPLE).respond(200, content=png)
    client = face()
    client.download(_ready_result())
    assert "x-key" not in api.calls.last.request.headers


def test_an_http_client_passed_in_is_used_as_it_is(face, api, png):
    """Its own base URL, auth and headers stay; ours travel with each request."""
    api.post(SUBMIT).mock(return_value=accepted())
    api.get(SAMPLE).respond(200, content=png)
    own_auth = httpx.BasicAuth("proxy-user", "proxy-pass")
    options = {
        "base_url": "https://elsewhere.example",
        "auth": own_auth,
        "headers": {"user-agent": "my-app/1.0"},
    }
    probe = face()
    mine = httpx.AsyncClient(**options) if probe.is_async else httpx.Client(**options)
    client = face(http_client=mine)
    client.submit(control_image=png, **ARGS)
    sent = api.calls.last.request
    assert sent.headers["x-key"] == KEY and sent.headers["user-agent"] == "my-app/1.0"
    client.download(_ready_result())
    assert "x-key" not in api.calls.last.request.headers
    assert "authorization" not in api.calls.last.request.headers  # nor the user's own auth
    assert mine.base_url == "https://elsewhere.example" and mine.auth is own_auth
    getattr(client, "aclose" if probe.is_async else "close")()
    assert not mine.is_closed  # the user's to close


def _ready_result():
    from flux_canny import Result

    return Result.from_body(ready().json(), "t1")


def test_the_key_is_in_no_repr_or_error(face, api, png, monkeypatch, caplog):
    client = face()
    assert KEY not in repr(client.client)
    monkeypatch.delenv("BFL_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="BFL_API_KEY"):
        face(api_key=None)
    monkeypatch.setenv("BFL_API_KEY", KEY)
    api.post(SUBMIT).mock(return_value=accepted())
    with caplog.at_level(logging.DEBUG):
        assert face(api_key=None).submit(control_image=png, **ARGS).id == "t1"
    assert api.calls.last.request.headers["x-key"] == KEY
    assert KEY not in caplog.text


# -- control images -------------------------------------------------------------------------


def _sent_image(api) -> bytes:
    import base64

    return base64.b64decode(json.loads(api.calls.last.request.content)["control_image"])


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_image_bytes_pass_through_unchanged(face, api, fmt, tmp_path):
    data = make_image(fmt)
    api.post(SUBMIT).mock(return_value=accepted())
    path = tmp_path / f"c.{fmt.lower()}"
    path.write_bytes(data)
    client = face()
    for form in (data, bytearray(data), path, str(path), io.BytesIO(data)):
        client.submit(control_image=form, **ARGS)
        assert _sent_image(api) == data


def test_ready_base64_and_data_uris_are_accepted(face, api, png, b64png):
    api.post(SUBMIT).mock(return_value=accepted())
    client = face()
    for form in (b64png, f"data:image/png;base64,{b64png}"):
        client.submit(control_image=form, **ARGS)
        assert json.loads(api.calls.last.request.content)["control_image"] == b64png


def test_pil_images_and_arrays_are_encoded_once_as_png(face, api):
    api.post(SUBMIT).mock(return_value=accepted())
    client = face()
    array = np.zeros((20, 30, 3), dtype=np.uint8)
    array[5:15, 10:20] = 255
    for form in (Image.fromarray(array), array, array[:, :, 0], Image.new("LA", (8, 8))):
        client.submit(control_image=form, **ARGS)
        sent = _sent_image(api)
        assert sent.startswith(b"\x89PNG")
        decoded = Image.open(io.BytesIO(sent))
        assert decoded.size[0] > 0
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(_sent_image(api))).convert("RGB"))[0, 0], [0, 0, 0]
    )


def _bad_images(tmp_path, png, jpeg):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    return {
        "missing file": tmp_path / "nope.png",
        "missing str path": str(tmp_path / "nope.png"),
        "a directory": tmp_path,
        "empty": b"",
        "not an image": b"hello world, this is text",
        "text file": text,
        "truncated png": png[: len(png) // 2],
        "corrupt png": png[:40] + b"\x00" * 8 + png[48:],
        "truncated jpeg": jpeg[: len(jpeg) - 50],
        "text-mode file": open(text),
        "float array": np.zeros((4, 4), dtype=np.float32),
        "bad shape": np.zeros((4, 4, 2), dtype=np.uint8),
        "garbage string": "definitely not base64 !!",
        "base64 of text": "aGVsbG8gd29ybGQ=",
        "data uri not base64": "data:image/png,abc",
        "wrong type": 12345,
    }


def test_bad_control_images_fail_before_any_request(face, api, png, jpeg, tmp_path):
    route = api.post(SUBMIT).mock(return_value=accepted())
    client = face()
    for name, bad in _bad_images(tmp_path, png, jpeg).items():
        with pytest.raises(ImageInputError) as caught:
            client.submit(control_image=bad, **ARGS)
        assert str(caught.value), name
    assert route.call_count == 0


def test_a_path_that_also_reads_as_base64_is_taken_for_a_path(face, api, tmp_path, monkeypatch):
    """ "abc/defghijk" is valid base64 too. Sent as such, a folder or a missing file was
    refused as "not a PNG, JPEG or WebP image (it starts with b'i\\xb7...')", which says
    nothing of the path."""
    route = api.post(SUBMIT).mock(return_value=accepted())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "abc" / "defghijk").mkdir(parents=True)
    client = face()
    for path, says in (("abc/defghijk", "is a directory"), ("abc/nopenope", "not found")):
        assert base64.b64decode(path, validate=True)  # the ambiguity itself
        with pytest.raises(ImageInputError, match=says):
            client.submit(control_image=path, **ARGS)
    assert route.call_count == 0


def test_download_of_a_non_image_is_a_typed_error(face, api):
    api.get(SAMPLE).respond(200, text="<html>oops</html>")
    with pytest.raises(FluxCannyError, match="not an image"):
        face().download(_ready_result())
