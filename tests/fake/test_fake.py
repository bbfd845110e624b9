"""The fake API: spec-faithful, stateful, every knob and counter, on all three faces."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from flux_canny import (
    GenerationError,
    ModerationError,
    RateLimitError,
    SampleExpiredError,
    SubmitUncertainError,
    validate_inputs,
)
from flux_canny._operations import operations
from flux_canny.fake import FakeBFL, FakeServer, VirtualClock
from flux_canny.fake._render import canny
from hypothesis import settings
from PIL import Image

from tests.conftest import make_image

ROOT = Path(__file__).resolve().parents[2]
ARGS = {"prompt": "a castle", "finetune_id": "my-finetune"}


@pytest.fixture
def fake(clock):
    return FakeBFL(clock=clock)


def test_a_task_goes_pending_with_rising_progress_then_ready(fake, clock, png):
    with fake.client() as flux:
        task = flux.submit(control_image=png, **ARGS)
        seen = []
        for _ in range(4):
            seen.append(flux.get_result(task))
            clock.advance(0.6)
    # as live runs show: Pending, Reasoning, Generating (the spec lists only Pending)
    assert [r.status for r in seen] == ["Pending", "Reasoning", "Generating", "Generating"]
    assert [r.progress for r in seen] == sorted(r.progress for r in seen)
    clock.advance(1)
    with fake.client() as flux:
        done = flux.get_result(task)
        image = flux.download(done)
    assert done.is_ready and done.seed is not None
    assert httpx.URL(done.sample).host != "api.us1.bfl.ai"
    assert Image.open(io.BytesIO(image.data)).format == "JPEG"


def test_the_image_is_deterministic_and_follows_thresholds_seed_and_format(fake, png):
    def run(**params):
        with fake.client() as flux:
            return flux.generate(control_image=png, **ARGS, **params)

    a, b = run(seed=1, output_format="png"), run(seed=1, output_format="png")
    assert a.data == b.data and a.format == "png"
    assert run(seed=2, output_format="png").data != a.data
    assert (
        run(seed=1, output_format="png", canny_low_threshold=400, canny_high_threshold=500).data
        != a.data
    )


def test_canny_thresholds_control_the_edge_map():
    image = Image.open(io.BytesIO(make_image("PNG", (96, 96)))).convert("L")
    import numpy as np

    gray = np.asarray(image, dtype=np.uint8)
    loose, strict = canny(gray, 10, 50), canny(gray, 400, 500)
    assert loose.sum() > strict.sum() > 0 or strict.sum() == 0
    assert loose.sum() > 0


def test_no_progress_knob_and_off_spec_pending_status(png, clock):
    fake = FakeBFL(clock=clock, report_progress=False, pending_status="Generating")
    with fake.client() as flux:
        result = flux.get_result(flux.submit(control_image=png, **ARGS))
    assert (result.status, result.progress) == ("Generating", None)


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        ("Request Moderated", ModerationError),
        ("Content Moderated", ModerationError),
        ("Error", GenerationError),
        ("Failed", GenerationError),
    ],
)
def test_queued_outcomes(fake, png, outcome, error):
    fake.queue_outcomes(outcome)
    with fake.client() as flux, pytest.raises(error):
        flux.generate(control_image=png, **ARGS)


def test_the_fake_judges_bodies_like_the_server(fake):
    body = {
        "prompt": "x",
        "finetune_id": "f",
        "control_image": "aGk=",
        "steps": 99,
        "webhook_url": "ftp://x",
    }
    response = httpx.Client(transport=fake.transport()).post(
        "https://api.us1.bfl.ai/v1/flux-pro-1.0-canny-finetuned",
        json=body,
        headers={"x-key": "test-key"},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == validate_inputs(body)
    assert {tuple(e["loc"]) for e in response.json()["detail"]} == {
        ("body", "steps"),
        ("body", "webhook_url"),
    }


def test_auth_errors_unknown_paths_and_methods(fake):
    http = httpx.Client(transport=fake.transport(), base_url="https://api.us1.bfl.ai")
    missing = http.get("/v1/my_finetunes")
    assert (missing.status_code, missing.json()) == (401, {"detail": "Not authenticated"})
    assert http.get("/v1/my_finetunes", headers={"x-key": "nope"}).status_code == 403
    assert http.get("/v1/nope").status_code == 404
    assert http.delete("/v1/get_result").status_code == 405
    assert http.get("/v1/get_result").json()["detail"][0]["loc"] == ["query", "id"]
    assert http.get("/v1/get_result", params={"id": "zz"}).json()["status"] == "Task not found"


def test_finetune_endpoints(fake):
    with fake.client() as flux:
        assert flux.my_finetunes() == ["my-finetune"]
        assert flux.finetune_details("my-finetune")["finetune_id"] == "my-finetune"


def test_the_active_task_cap_answers_429_with_retry_after(png, clock):
    fake = FakeBFL(clock=clock, max_active_tasks=24, task_duration=10)
    http = httpx.Client(transport=fake.transport())
    body = {"prompt": "x", "finetune_id": "my-finetune", "control_image": "aGk="}
    url = "https://api.us1.bfl.ai/v1/flux-pro-1.0-canny-finetuned"
    codes = [
        http.post(url, json=body, headers={"x-key": "test-key"}).status_code for _ in range(25)
    ]
    assert codes == [200] * 24 + [429]
    limited = http.post(url, json=body, headers={"x-key": "test-key"})
    assert limited.headers["retry-after"] == "1"
    assert fake.tasks_created["test-key"] == 24
    clock.advance(10)
    assert http.post(url, json=body, headers={"x-key": "test-key"}).status_code == 200


def test_the_client_waits_out_the_cap(png, clock):
    fake = FakeBFL(clock=clock, max_active_tasks=1, task_duration=3)
    with fake.client() as flux:
        flux.submit(control_image=png, **ARGS)
        task = flux.submit(control_image=png, **ARGS)  # 429s until the first task finishes
    assert fake.tasks_created["test-key"] == 2 and task.id
    assert fake.requests[("POST", "/v1/flux-pro-1.0-canny-finetuned")] > 2


def test_rate_limit_budget_runs_out(png, clock):
    fake = FakeBFL(clock=clock, max_active_tasks=1, task_duration=1000)
    with fake.client() as flux:
        flux.submit(control_image=png, **ARGS)
        with pytest.raises(RateLimitError):
            flux.submit(control_image=png, **ARGS)


def test_sample_urls_expire(png, clock):
    fake = FakeBFL(clock=clock, sample_ttl=600)
    with fake.client() as flux:
        result = flux.wait(flux.submit(control_image=png, **ARGS))
        clock.advance(601)
        assert flux.download(result).data  # refreshed transparently
        http = httpx.Client(transport=fake.transport())
        assert http.get(result.sample).status_code == 403
    fake.sample_ttl = -1  # every fresh URL is already expired
    with fake.client() as flux, pytest.raises(SampleExpiredError):
        flux.download(result)


@pytest.mark.parametrize("kind", [500, 502, 503, 429, "connect", "drop", "malformed"])
def test_each_fault_knob_on_polls_is_survived(fake, png, kind):
    with fake.client() as flux:
        task = flux.submit(control_image=png, **ARGS)
        fake.fail_next(2, kind, path="/v1/get_result")
        assert flux.wait(task).is_ready
    assert fake.requests[("GET", "/v1/get_result")] >= 3


@pytest.mark.parametrize("kind", ["drop", "malformed", "slow"])
def test_faults_after_processing_create_a_task_the_client_does_not_repeat(fake, png, kind):
    fake.fail_next(1, kind, path="/v1/flux-pro-1.0-canny-finetuned", delay=100)
    with fake.client(timeout=5) as flux, pytest.raises(SubmitUncertainError):
        flux.submit(control_image=png, **ARGS)
    assert fake.tasks_created["test-key"] == 1
    assert fake.requests[("POST", "/v1/flux-pro-1.0-canny-finetuned")] == 1


@pytest.mark.parametrize("kind", [429, "connect"])
def test_faults_before_processing_are_retried_into_one_task(fake, png, kind):
    fake.fail_next(2, kind, path="/v1/flux-pro-1.0-canny-finetuned")
    with fake.client() as flux:
        flux.submit(control_image=png, **ARGS)
    assert fake.tasks_created["test-key"] == 1
    assert fake.requests[("POST", "/v1/flux-pro-1.0-canny-finetuned")] == 3


def test_a_503_on_submit_is_not_retried_even_when_no_task_was_made(fake, png):
    # the client cannot tell the fake's harmless 503 from a live one after the task was made
    fake.fail_next(1, 503, path="/v1/flux-pro-1.0-canny-finetuned")
    with fake.client() as flux, pytest.raises(SubmitUncertainError):
        flux.submit(control_image=png, **ARGS)
    assert fake.requests[("POST", "/v1/flux-pro-1.0-canny-finetuned")] == 1


def test_a_slow_answer_within_the_timeout_is_just_late(fake, png, clock):
    fake.fail_next(1, "slow", delay=2)
    with fake.client(timeout=30) as flux:
        before = clock.monotonic()
        flux.submit(control_image=png, **ARGS)
    assert clock.monotonic() - before >= 2


def test_counters_record_where_the_key_went(fake, png):
    with fake.client() as flux:
        flux.generate(control_image=png, **ARGS)
    assert fake.key_seen_by_hosts() == {"api.us1.bfl.ai"}
    download = [r for r in fake.records if r.path.startswith("/results/")]
    assert len(download) == 1 and download[0].key is None
    assert download[0].host == "delivery-us1.bfl.ai"


def test_webhooks_are_acknowledged_and_delivered_in_process(fake, clock, png):
    with fake.client() as flux:
        task = flux.submit(
            control_image=png, webhook_url="https://hooks.example/x", webhook_secret="s3", **ARGS
        )
    assert task.polling_url is None and task.webhook_url == "https://hooks.example/x"
    assert fake.webhooks == []
    clock.advance(5)
    fake.tick()
    (delivery,) = fake.webhooks
    # as BFL delivers: the secret back verbatim, a SUCCESS / FAILED payload
    assert delivery.payload["status"] == "SUCCESS" and delivery.payload["task_id"] == task.id
    assert delivery.payload["result"]["sample"] and delivery.headers["X-Webhook-Secret"] == "s3"


# -- loopback -------------------------------------------------------------------------------


def test_loopback_server_generation_faults_and_counters(png):
    with FakeServer(FakeBFL(task_duration=0.3)) as server:
        server.fake.fail_next(1, 503, path="/v1/get_result")
        server.fake.fail_next(1, "drop", path="/v1/get_result")
        from flux_canny import FluxCanny, RetryPolicy

        fast = RetryPolicy(base_delay=0.01, max_delay=0.05)
        with FluxCanny(api_key="test-key", base_url=server.base_url, retry=fast) as flux:
            image = flux.generate(control_image=png, **ARGS)
        assert image.to_pil().size == (64, 48)
        assert server.fake.key_seen_by_hosts() == {"127.0.0.1"}
        assert server.fake.tasks_created["test-key"] == 1
        assert httpx.get(f"{server.base_url}/v1/nope").status_code == 404


def test_loopback_server_posts_webhooks_to_a_local_receiver(png):
    received: list[dict] = []
    arrived = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(204)
            self.end_headers()
            arrived.set()

        def log_message(self, *args):
            pass

    hook = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.handle_request, daemon=True).start()
    with FakeServer(FakeBFL(task_duration=0.1)) as server:
        from flux_canny import FluxCanny

        with FluxCanny(api_key="test-key", base_url=server.base_url) as flux:
            task = flux.submit(
                control_image=png, webhook_url=f"http://127.0.0.1:{hook.server_port}/hook", **ARGS
            )
        assert arrived.wait(10)
    hook.server_close()
    assert received[0]["task_id"] == task.id and received[0]["status"] == "SUCCESS"


#: the seed's operation and the queries, checked in full in every run
SERVED = (
    "/v1/flux-pro-1.0-canny-finetuned",
    "/v1/get_result",
    "/v1/my_finetunes",
    "/v1/finetune_details",
    "/v1/credits",
)
#: BFL's other image-making operations, which the fake serves as well
OTHER_OPERATIONS = tuple(op.path for op in operations().values() if op.path not in SERVED)


def _schemathesis(server, *, max_examples=15, paths=SERVED, phases="examples,coverage,fuzzing"):
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fake.schemathesis_hooks"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            str(ROOT / "openapi.json"),
            "--url",
            server.base_url,
            "-H",
            "x-key: test-key",
            "--checks",
            "all",
            "--exclude-checks",
            "status_code_conformance,positive_data_acceptance,negative_data_rejection",
            "--max-examples",
            str(max_examples),
            "--phases",
            phases,
            "--generation-deterministic",
            "--request-timeout",
            "20",
            *(arg for path in paths for arg in ("--include-path", path)),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=ROOT,
        env=env,
    )


def test_schemathesis_finds_the_loopback_fake_conforms_to_the_spec():
    """Every check on every operation the fake serves, bounded. Two exclusions, because the
    spec is silent:
    - status_code_conformance: the spec documents no 400 (an unknown finetune id on
      submit), 401 (missing x-key, as FastAPI's APIKeyHeader answers), 402 (out of
      credits), 403 (wrong key), 404 (an unknown task or finetune id) or 429 (task cap);
      the real server answers all of them, and the fake models it (see docs/fake.md, "How
      the fake differs from the live API").
    - positive_data_acceptance: the real server is stricter than `format: uri` (webhook_url
      is pydantic's HttpUrl: http(s) with a host), so some schema-valid URIs get a 422.
    negative_data_rejection is not dropped but replaced (tests/fake/schemathesis_hooks.py)
    by the same check that forgives only a body BFL's server accepts as well, judged by the
    hand-written FastAPI model of tests/contract/oracle.py: pydantic's lax mode takes
    `false` or "30" for an integer, which the spec's JSON Schema does not say.
    """
    with FakeServer(FakeBFL(task_duration=0.05)) as server:
        run = _schemathesis(server)
    assert run.returncode == 0, run.stdout[-4000:]
    assert "Tested: 5" in run.stdout  # the canny submit, get_result, two finetune ops, credits


def test_schemathesis_finds_every_other_operation_of_the_fake_conforms_to_the_spec():
    """The same checks on BFL's sixteen other operations. Schemathesis costs seconds per
    operation, so `make test` runs a few fuzzed cases of each (the bodies the fake must
    accept or refuse with its 422), and `make test-thorough` the full run of every phase."""
    thorough = settings.get_current_profile_name() == "thorough"
    with FakeServer(FakeBFL(task_duration=0.05)) as server:
        run = _schemathesis(
            server,
            paths=OTHER_OPERATIONS,
            max_examples=15 if thorough else 2,
            phases="examples,coverage,fuzzing" if thorough else "fuzzing",
        )
    assert run.returncode == 0, run.stdout[-4000:]
    assert f"Tested: {len(OTHER_OPERATIONS)}" in run.stdout


class _AcceptsBadTypes:
    """A fake that forgot part of the server's 422s: any JSON object with the required
    fields passes, whatever the types of the others."""

    def __init__(self, real):
        self.real = real

    def __getattr__(self, name):
        return getattr(self.real, name)

    def _lax(self, body):
        return isinstance(body, dict) and {"prompt", "finetune_id", "control_image"} <= set(body)

    def errors(self, body):
        return [] if self._lax(body) else self.real.errors(body)

    def normalise(self, body):
        if self._lax(body):
            return {k: body[k] for k in ("prompt", "finetune_id", "control_image")}
        return self.real.normalise(body)


def test_the_replacement_negative_data_check_still_catches_a_lax_fake():
    with FakeServer(FakeBFL(task_duration=0.05)) as server:
        server.fake.validator = _AcceptsBadTypes(server.fake.validator)
        run = _schemathesis(server, max_examples=5)
    assert run.returncode != 0
    assert "Schema-violating request accepted" in run.stdout


# -- the pytest plugin ----------------------------------------------------------------------


def test_a_downstream_project_gets_the_bfl_fake_fixture(pytester):
    pytester.makepyfile(
        test_downstream="""
        import pytest
        from flux_canny import ModerationError

        import io
        from PIL import Image

        _buffer = io.BytesIO()
        Image.new("RGB", (16, 16), "white").save(_buffer, "PNG")
        PNG = _buffer.getvalue()

        def test_generate(bfl_fake):
            with bfl_fake.client() as flux:
                image = flux.generate(control_image=PNG, prompt="p", finetune_id="my-finetune")
            assert image.data and bfl_fake.tasks_created["test-key"] == 1

        @pytest.mark.bfl_fake(task_duration=30, report_progress=False)
        def test_knobs_from_marker(bfl_fake):
            bfl_fake.queue_outcomes("Content Moderated")
            with bfl_fake.client() as flux, pytest.raises(ModerationError):
                flux.generate(control_image=PNG, prompt="p", finetune_id="my-finetune")
            assert bfl_fake.clock.monotonic() > 1030

        def test_server(bfl_fake_server):
            assert bfl_fake_server.base_url.startswith("http://127.0.0.1:")
    """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


# -- the same knobs through the loopback face (real sockets, real time) ---------------------


@pytest.fixture(scope="module")
def loopback():
    with FakeServer(FakeBFL(task_duration=0.2, max_active_tasks=10**6)) as server:
        yield server


@pytest.mark.parametrize("kind", [500, 502, 503, 429, "connect", "drop", "malformed"])
def test_each_fault_knob_on_polls_through_loopback(loopback, png, kind):
    from flux_canny import FluxCanny, PollPolicy, RetryPolicy

    fake = loopback.fake
    with FluxCanny(
        api_key="test-key",
        base_url=loopback.base_url,
        retry=RetryPolicy(base_delay=0.01, max_delay=0.05),
        poll=PollPolicy(initial_delay=0.1, max_interval=0.1),  # the faults, not the schedule
    ) as flux:
        task = flux.submit(control_image=png, **ARGS)
        before = fake.requests[("GET", "/v1/get_result")]
        fake.fail_next(2, kind, path="/v1/get_result", retry_after=0.05)
        assert flux.wait(task).is_ready
    assert fake.requests[("GET", "/v1/get_result")] - before >= 3


@pytest.mark.parametrize("kind", ["drop", "malformed", "slow"])
def test_ambiguous_submit_faults_through_loopback_create_one_task(loopback, png, kind):
    from flux_canny import FluxCanny

    fake = loopback.fake
    created = fake.tasks_created["test-key"]
    posts = fake.requests[("POST", "/v1/flux-pro-1.0-canny-finetuned")]
    fake.fail_next(1, kind, path="/v1/flux-pro-1.0-canny-finetuned", delay=1.0)
    with (
        FluxCanny(api_key="test-key", base_url=loopback.base_url, timeout=0.3) as flux,
        pytest.raises(SubmitUncertainError),
    ):
        flux.submit(control_image=png, **ARGS)
    assert fake.tasks_created["test-key"] == created + 1
    assert fake.requests[("POST", "/v1/flux-pro-1.0-canny-finetuned")] == posts + 1


def test_cap_and_expiry_through_loopback(png):
    """On the fake's own clock, moved by hand: a loaded machine's scheduler decides nothing."""
    clock = VirtualClock()
    fake = FakeBFL(task_duration=5, max_active_tasks=2, sample_ttl=0.3, clock=clock)
    with FakeServer(fake) as server:
        body = {"prompt": "x", "finetune_id": "my-finetune", "control_image": "aGk="}
        url = f"{server.base_url}/v1/flux-pro-1.0-canny-finetuned"
        codes = [
            httpx.post(url, json=body, headers={"x-key": "test-key"}).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        server.fake.max_active_tasks, server.fake.task_duration = 10, 0.05
        task_id = httpx.post(url, json=body, headers={"x-key": "test-key"}).json()["id"]
        clock.advance(0.1)
        result = httpx.get(f"{server.base_url}/v1/get_result", params={"id": task_id}).json()
        sample = result["result"]["sample"]
        assert httpx.URL(sample).host == "localhost"
        assert httpx.get(sample).status_code == 200
        clock.advance(0.4)
        assert httpx.get(sample).status_code == 403


class _LaxOnEveryOperation(_AcceptsBadTypes):
    """`_AcceptsBadTypes` for any operation: only its required fields are looked at."""

    def __init__(self, real, required):
        super().__init__(real)
        self.required = required

    def _lax(self, body):
        return isinstance(body, dict) and self.required <= set(body)

    def normalise(self, body):
        if self._lax(body):
            return {k: body[k] for k in self.required}
        return self.real.normalise(body)


@pytest.mark.skipif(
    "config.getoption('hypothesis_profile') != 'thorough'",
    reason="every phase on sixteen operations: run in make test-thorough",
)
def test_the_run_over_every_other_operation_catches_a_fake_lax_on_them():
    with FakeServer(FakeBFL(task_duration=0.05)) as server:
        fake = server.fake
        for op in fake.operations.values():
            if op.path in OTHER_OPERATIONS:
                lax = _LaxOnEveryOperation(fake.validator_for(op), op.required)
                fake._validators[op.path] = lax
        run = _schemathesis(server, paths=OTHER_OPERATIONS, max_examples=5)
    assert run.returncode != 0
    assert "Schema-violating request accepted" in run.stdout
