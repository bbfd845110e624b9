"""Every answer handled: what BFL's live API really sends, and what a hostile server might.

One table drives both faces; each case asserts the error class, the task id once a task
exists, the server's own words in the message, and that the key reached no other host.
"""

from __future__ import annotations

import math

import httpx
import pytest
import respx
from flux_canny import (
    APIConnectionError,
    APIStatusError,
    APIValidationError,
    FluxCanny,
    GenerationError,
    Task,
    TaskNotFoundError,
    UntrustedURLError,
)
from flux_canny.errors import ConfigurationError, InsufficientCreditsError

from tests.client.test_client_respx import ARGS, POLL, SUBMIT, accepted, no_key_anywhere, pending
from tests.conftest import KEY

FRESH = {"id": "t1", "polling_url": f"{POLL}?id=t1"}


@pytest.fixture
def api():
    with respx.mock(assert_all_called=False) as router:
        yield router
        # every case: the key went to the configured API origin and nowhere else
        allowed = {"api.us1.bfl.ai:443", "127.0.0.1:8080"}
        for call in router.calls:
            url = call.request.url
            if "x-key" in call.request.headers:
                assert f"{url.host}:{url.port or 443}" in allowed, url


def keys_sent(api):
    """Hosts (with port) that received the key."""
    return {
        f"{c.request.url.host}:{c.request.url.port}"
        for c in api.calls
        if "x-key" in c.request.headers
    }


def test_402_is_out_of_credits_never_retried_and_no_task(face, api, png):
    route = api.post(SUBMIT).respond(402, json={"detail": "Insufficient credits"})
    client = face()
    with pytest.raises(InsufficientCreditsError, match="Insufficient credits") as caught:
        client.submit(control_image=png, **ARGS)
    assert route.call_count == 1 and caught.value.status_code == 402
    assert client.client.ledger.entries()[0].state == "rejected"


@pytest.mark.parametrize(
    "detail",
    ["Invalid API key format", ["steps too big", "guidance too small"], [{"msg": "no loc"}]],
)
def test_a_422_of_any_shape_is_an_api_validation_error_with_its_words(face, api, png, detail):
    api.post(SUBMIT).respond(422, json={"detail": detail})
    with pytest.raises(APIValidationError) as caught:
        face().submit(control_image=png, **ARGS)
    words = (
        detail
        if isinstance(detail, str)
        else "no loc"
        if isinstance(detail[0], dict)
        else detail[0]
    )
    assert words in str(caught.value)
    api.get(POLL).respond(422, json={"detail": detail})
    with pytest.raises(APIValidationError):
        face().wait(Task(id="t1", polling_url=f"{POLL}?id=t1"))


@pytest.mark.parametrize("status", [422, 503])
def test_a_poll_ending_in_an_error_status_with_a_task_body_is_a_generation_error(face, api, status):
    body = {"id": "t1", "status": "Error", "details": {"error": "GPU fell over"}, "result": None}
    route = api.get(POLL).respond(status, json=body)
    with pytest.raises(GenerationError, match="GPU fell over") as caught:
        face().wait(Task(id="t1", polling_url=f"{POLL}?id=t1"))
    assert caught.value.task_id == "t1" and route.call_count == 1


def test_a_404_task_body_is_tolerated_briefly_for_a_fresh_task_then_not_found(
    face, api, png, clock
):
    gone = {"id": "t1", "status": "Task not found", "result": None}
    api.post(SUBMIT).mock(return_value=accepted())
    answers = iter([httpx.Response(404, json=gone), pending(0.5)])
    api.get(POLL).mock(side_effect=lambda r: next(answers, httpx.Response(404, json=gone)))
    started = clock.monotonic()
    with pytest.raises(TaskNotFoundError) as caught:
        face().generate(control_image=png, **ARGS)
    polls = [c for c in api.calls if c.request.url.path == "/v1/get_result"]
    assert caught.value.task_id == "t1" and len(polls) >= 4  # tolerated, pending, more
    assert 10 <= clock.monotonic() - started < 30  # tolerated while the task is young


def test_a_404_for_a_resumed_task_is_not_found_at_once(face, api):
    route = api.get(POLL).respond(404, json={"id": "t1", "status": "Task not found"})
    with pytest.raises(TaskNotFoundError):
        face().wait(Task(id="t1", polling_url=f"{POLL}?id=t1"))
    assert route.call_count == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_never_followed_with_the_key(face, api, png, status):
    api.post(SUBMIT).respond(status, headers={"location": "https://evil.example/steal"})
    api.get(POLL).respond(status, headers={"location": "https://evil.example/steal"})
    evil = api.route(host="evil.example").respond(200, json=FRESH)
    client = face(http_client=None)
    with pytest.raises(APIStatusError, match="not followed"):
        client.submit(control_image=png, **ARGS)
    with pytest.raises(APIStatusError, match="not followed"):
        client.wait(Task(id="t1", polling_url=f"{POLL}?id=t1"))
    assert evil.call_count == 0 and keys_sent(api) <= {"api.us1.bfl.ai:None"}


def test_a_users_redirect_following_client_still_never_carries_the_key(api, png):
    api.post(SUBMIT).respond(307, headers={"location": "https://evil.example/steal"})
    evil = api.route(host="evil.example").respond(200, json=FRESH)
    with (
        httpx.Client(follow_redirects=True) as http,
        FluxCanny(api_key=KEY, http_client=http, ledger=False) as flux,
        pytest.raises(APIStatusError),
    ):
        flux.submit(control_image=png, **ARGS)
    assert evil.call_count == 0


def test_plain_http_is_refused_except_to_this_machine():
    with pytest.raises(ConfigurationError, match="clear text"):
        FluxCanny(api_key=KEY, base_url="http://api.us1.bfl.ai")
    with pytest.raises(ConfigurationError, match="http"):
        FluxCanny(api_key=KEY, base_url="api.us1.bfl.ai")
    FluxCanny(api_key=KEY, base_url="http://127.0.0.1:8080", ledger=False).close()
    FluxCanny(api_key=KEY, base_url="http://localhost:8080", ledger=False).close()


@pytest.mark.parametrize(
    ("base", "polling_url"),
    [
        ("https://api.us1.bfl.ai", "https://api.us1.bfl.ai:8443/v1/get_result?id=t1"),
        ("https://api.us1.bfl.ai", "https://api.eu1.bfl.ai:444/v1/get_result?id=t1"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:22/v1/get_result?id=t1"),
    ],
)
def test_the_host_check_includes_the_port(face, api, base, polling_url):
    sneaky = api.route(url__startswith=polling_url.split("/v1")[0]).respond(200, json={})
    with pytest.raises(UntrustedURLError):
        face(base_url=base).wait(Task(id="t1", polling_url=polling_url))
    assert sneaky.call_count == 0


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "soon"])
def test_a_nonsense_retry_after_falls_back_to_backoff(face, api, value, clock):
    api.get(POLL).mock(
        side_effect=[httpx.Response(503, headers={"retry-after": value}), pending(1.0, "Ready")]
    )
    face().get_result(Task(id="t1", polling_url=f"{POLL}?id=t1"))
    assert clock.sleeps and all(math.isfinite(s) and s > 0 for s in clock.sleeps)


def test_deeply_nested_json_is_an_unreadable_answer_not_a_recursion_error(face, api):
    deep = b"[" * 100_000 + b"]" * 100_000
    api.get(POLL).respond(200, content=deep, headers={"content-type": "application/json"})
    with pytest.raises(APIConnectionError, match="unreadable") as caught:
        face().wait(Task(id="t1", polling_url=f"{POLL}?id=t1"))
    assert caught.value.task_id == "t1"


@pytest.mark.parametrize("progress", ["NaN", "Infinity", "-Infinity", "1e308", "1" + "0" * 400])
def test_absurd_progress_is_no_information(face, api, progress):
    body = '{"id": "t1", "status": "Pending", "progress": ' + progress + "}"
    api.get(POLL).mock(
        side_effect=[httpx.Response(200, content=body.encode()), pending(None, "Ready")]
    )
    result = face().wait(Task(id="t1", polling_url=f"{POLL}?id=t1"))
    assert result.is_ready


@pytest.mark.parametrize("result", [None, {}, {"seed": 3}])
def test_ready_without_a_sample_is_a_generation_error_naming_the_task(face, api, png, result):
    api.post(SUBMIT).mock(return_value=accepted())
    api.get(POLL).respond(200, json={"id": "t1", "status": "Ready", "result": result})
    with pytest.raises(GenerationError, match="no image") as caught:
        face().generate(control_image=png, **ARGS)
    assert caught.value.task_id == "t1"
    no_key_anywhere(caught.value)


def test_a_bug_in_a_transport_is_raised_as_itself_not_as_an_uncertain_submit(png):
    def broken(request):
        raise TypeError("a bug")

    transport = httpx.MockTransport(broken)
    with (
        FluxCanny(api_key=KEY, transport=transport, ledger=False) as flux,
        pytest.raises(TypeError),
    ):
        flux.submit(control_image=png, **ARGS)


def test_server_words_reach_the_message_without_escape_sequences(face, api, png):
    api.post(SUBMIT).respond(422, json={"detail": "bad \x1b[31mred\x1b[0m key"})
    with pytest.raises(APIValidationError) as caught:
        face().submit(control_image=png, **ARGS)
    assert "\x1b" not in str(caught.value) and "red" in str(caught.value)


def test_an_async_redirect_following_client_never_carries_the_key_either(api, png):
    import asyncio

    from flux_canny import AsyncFluxCanny

    api.post(SUBMIT).respond(302, headers={"location": "https://evil.example/steal"})
    evil = api.route(host="evil.example").respond(200, json=FRESH)

    async def main():
        async with (
            httpx.AsyncClient(follow_redirects=True) as http,
            AsyncFluxCanny(api_key=KEY, http_client=http, ledger=False) as flux,
        ):
            with pytest.raises(APIStatusError, match="not followed"):
                await flux.submit(control_image=png, **ARGS)

    asyncio.run(main())
    assert evil.call_count == 0


def test_plain_http_is_refused_on_the_async_face_too():
    from flux_canny import AsyncFluxCanny

    with pytest.raises(ConfigurationError, match="clear text"):
        AsyncFluxCanny(api_key=KEY, base_url="http://192.0.2.10")


def test_to_pil_on_a_decompression_bomb_is_a_typed_error(png):
    import struct
    import zlib

    from flux_canny import GeneratedImage, ImageDecodeError

    # the same PNG, its IHDR claiming 20000 x 20000 pixels (CRC mended)
    at = png.index(b"IHDR")
    ihdr = b"IHDR" + struct.pack(">II", 20000, 20000) + png[at + 12 : at + 17]
    bomb = png[:at] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + png[at + 21 :]
    with pytest.raises(ImageDecodeError, match="t1") as caught:
        GeneratedImage(data=bomb, format="png", task_id="t1").to_pil()
    assert caught.value.task_id == "t1" and caught.value.__cause__ is not None


def test_a_transport_bug_is_raised_as_itself_on_the_async_face(png):
    import asyncio

    from flux_canny import AsyncFluxCanny

    def broken(request):
        raise TypeError("a bug")

    async def main():
        async with AsyncFluxCanny(
            api_key=KEY, transport=httpx.MockTransport(broken), ledger=False
        ) as flux:
            await flux.submit(control_image=png, **ARGS)

    with pytest.raises(TypeError):
        asyncio.run(main())
