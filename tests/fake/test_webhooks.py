"""Webhooks end to end: the fake delivers as BFL does, `flux-canny webhook-listen` checks
the secret and prints the event, a wrong secret is refused."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest
from flux_canny import FluxCanny, WebhookVerificationError, parse_webhook
from flux_canny.fake import FakeBFL, FakeServer

from ..cli.test_cli_entry import SCRIPT
from ..conftest import make_image


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listen(secret, count):
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(SCRIPT),
            "webhook-listen",
            "--port",
            str(port),
            "--secret",
            secret,
            "--count",
            str(count),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr.readline().startswith("listening on http://127.0.0.1:")
    return proc, f"http://127.0.0.1:{port}/hook"


def _submit_with_hook(server, hook, secret):
    with FluxCanny(api_key="test-key", base_url=server.base_url, ledger=False) as flux:
        return flux.submit(
            control_image=make_image("PNG", (256, 256)),
            prompt="p",
            finetune_id="my-finetune",
            webhook_url=hook,
            webhook_secret=secret,
        )


def test_a_delivery_goes_from_the_fake_to_webhook_listen_and_is_printed():
    listener, hook = _listen("s3cret", count=1)
    try:
        with FakeServer(FakeBFL(task_duration=0.2)) as server:
            task = _submit_with_hook(server, hook, "s3cret")
            out, _err = listener.communicate(timeout=30)
    finally:
        listener.kill()
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert event["task_id"] == task.id and event["status"] == "SUCCESS" and event["ok"]
    assert event["sample"].startswith("http://localhost:")
    assert listener.returncode == 0


def test_a_wrong_secret_is_refused_on_every_retry():
    listener, hook = _listen("the-right-one", count=1)
    try:
        with FakeServer(FakeBFL(task_duration=0.1)) as server:
            _submit_with_hook(server, hook, "a-wrong-one")
            deadline = time.monotonic() + 60  # a bound for a hang, never reached by a pass
            while not server.fake.webhooks and time.monotonic() < deadline:
                time.sleep(0.02)
            assert server.fake.webhooks  # delivered, then answered:
            with pytest.raises(subprocess.TimeoutExpired):
                listener.communicate(timeout=1)  # nothing accepted, so it never exits
    finally:
        listener.kill()
        out, err = listener.communicate()
    assert out == ""
    assert err.count("refused a delivery") >= 1 and "X-Webhook-Secret" in err


def test_parse_webhook_reads_both_shapes_and_checks_in_constant_time():
    live = json.dumps(
        {"task_id": "t1", "status": "FAILED", "result": None, "error": "boom", "progress": 1.0}
    )
    event = parse_webhook(live, {"x-webhook-secret": "s"}, "s")  # any header case
    assert (event.task_id, event.ok, event.error) == ("t1", False, "boom")
    polled = json.dumps(
        {"id": "t2", "status": "Ready", "result": {"sample": "https://x", "seed": 3}}
    )
    event = parse_webhook(polled.encode(), {}, None)
    assert (event.task_id, event.ok, event.sample, event.seed) == ("t2", True, "https://x", 3)
    for headers in ({}, {"X-Webhook-Secret": "wrong"}, {"X-Webhook-Secret": "sé"}):
        with pytest.raises(WebhookVerificationError):
            parse_webhook(live, headers, "s")
    for body in (b"not json", b"[1]", b'{"status": "SUCCESS"}'):
        with pytest.raises(WebhookVerificationError):
            parse_webhook(body, {}, None)


def test_parse_webhook_takes_any_framework_s_headers_and_refuses_what_is_none():
    """http.server's headers (an email Message) and ASGI's (name, value) byte pairs are
    read as they come; None for the headers, or bytes for the secret, raised a bare
    AttributeError."""
    from email.message import Message

    from flux_canny import InvalidArgumentError

    body = json.dumps({"task_id": "t1", "status": "Ready"})
    message = Message()
    message["X-Webhook-Secret"] = "s"
    for headers in (message, [(b"x-webhook-secret", b"s")], [("X-Webhook-Secret", "s")]):
        assert parse_webhook(body, headers, "s").ok
    with pytest.raises(WebhookVerificationError):
        parse_webhook(body, [(b"x-webhook-secret", b"wrong")], "s")
    for headers, secret in ((None, "s"), (5, "s"), ({"X-Webhook-Secret": "s"}, b"s")):
        with pytest.raises(InvalidArgumentError):
            parse_webhook(body, headers, secret)
