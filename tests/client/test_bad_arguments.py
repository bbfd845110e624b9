"""Every wrong argument is one of this package's errors, raised before any request.

Each of these was accepted before and surfaced later as something else, or never: a
negative timeout as an httpx error mid-request, a NaN poll interval as a loop that never
slept, None as a task id sent as ?id=None, and `trusted_hosts="*.mycorp.com"` read a
character at a time, whose "*" sent the API key to every https host.
"""

from __future__ import annotations

import math

import pytest
import respx
from flux_canny import (
    ConfigurationError,
    FluxCanny,
    FluxCannyError,
    ImageInputError,
    InvalidArgumentError,
    PollPolicy,
    RetryPolicy,
)

from ..conftest import BASE, KEY

SUBMIT = f"{BASE}/v1/flux-pro-1.0-canny-finetuned"
#: iter_many and generate_many are the async face's (the sync one has no batch call)
ASYNC_ONLY = pytest.mark.parametrize("face", ["async"], indirect=True)


@pytest.fixture
def api():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def test_a_trusted_hosts_string_no_longer_sends_the_key_to_every_https_host(api, png):
    """The string's characters were the patterns, and "*" matched any host."""
    evil = "https://collector.example/v1/get_result?id=t1"
    api.post(SUBMIT).respond(200, json={"id": "t1", "polling_url": evil})
    poll = api.get(evil).respond(200, json={"id": "t1", "status": "Pending"})
    with pytest.raises(ConfigurationError, match="list of host patterns"):
        FluxCanny(api_key=KEY, trusted_hosts="*.mycorp.com", ledger=False)
    assert not poll.called


@pytest.mark.parametrize("pattern", ["*", "*.com", "a*.bfl.ai", "bfl.ai/x", "", 5])
def test_a_trusted_host_pattern_that_would_match_too_much_is_refused(pattern):
    with pytest.raises(ConfigurationError, match="trusted host"):
        FluxCanny(api_key=KEY, trusted_hosts=[pattern], ledger=False)


def test_narrow_trusted_host_patterns_are_kept():
    with FluxCanny(api_key=KEY, trusted_hosts=["*.mycorp.com", "api.x.io"], ledger=False):
        pass


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("timeout", -5, "timeout must be more than 0"),
        ("timeout", math.nan, "timeout must be a finite number"),
        ("wait_timeout", -1, "wait_timeout must be at least 0"),
        ("max_download_bytes", 0, "max_download_bytes must be more than 0"),
        ("download_deadline", math.inf, "download_deadline must be a finite number"),
        ("ledger", 5, "ledger must be a path"),
        ("validate", "no", "validate must be True or False, got 'no'"),
        ("check_responses", 1, "check_responses must be True or False"),
    ],
)
def test_client_settings_are_refused_where_given(face, api, option, value, says):
    with pytest.raises(ConfigurationError, match=says):
        face(**{option: value})
    assert not api.calls


@pytest.mark.parametrize(
    ("policy", "field", "value", "says"),
    [
        (PollPolicy, "request_cost", -1, "at least 0"),
        (PollPolicy, "latency_budget", -0.1, "at least 0"),
        (PollPolicy, "explore", 1.5, "at most 1"),
        (PollPolicy, "min_interval", 0, "more than 0"),
        (PollPolicy, "max_interval", math.nan, "finite"),
        (PollPolicy, "jitter", 2, "at most 1"),
        (PollPolicy, "backoff", 0.5, "at least 1"),
        (PollPolicy, "fixed_interval", 0, "more than 0"),
        (RetryPolicy, "max_retries", -1, "at least 0"),
        (RetryPolicy, "max_rate_limit_retries", 2.5, "an integer"),
        (RetryPolicy, "base_delay", "1", "a number"),
    ],
)
def test_policy_fields_are_refused_where_given(policy, field, value, says):
    with pytest.raises(ConfigurationError, match=f"{policy.__name__}.{field} must be.*{says}"):
        policy(**{field: value})


@pytest.mark.parametrize("call", ["prepare", "submit", "generate"])
def test_a_validate_that_is_no_bool_is_refused_not_read_as_true(face, api, png, call):
    """`validate="no"` was truthy: the request was checked though the user said not to."""
    flux = face(ledger=False)
    fields = {"control_image": png, "prompt": "x", "finetune_id": "ft"}
    with pytest.raises(InvalidArgumentError, match="validate must be True or False, got 'no'"):
        getattr(flux, call)(validate="no", **fields)
    assert not api.calls


@pytest.mark.parametrize("address", ["https://", "HTTPS:///edges.png", "https://?x=1"])
def test_an_https_address_that_names_no_host_is_refused_before_any_request(face, api, address):
    """Where the spec takes an address, one with no host was sent on: the server's to
    reject, after the request."""
    flux = face(ledger=False)
    with pytest.raises(ImageInputError, match=r"input_image image address .* names no host"):
        flux.submit(endpoint="flux-kontext-pro", prompt="x", input_image=address)
    assert not api.calls


@pytest.mark.parametrize("task", [None, 123, "", "t 1", "t\n1", "x" * 257])
@pytest.mark.parametrize("call", ["get_result", "wait", "resume"])
def test_a_task_that_is_no_task_id_is_refused_before_any_request(face, api, task, call):
    flux = face(ledger=False)
    with pytest.raises(InvalidArgumentError, match="a task is a Task or the id") as caught:
        getattr(flux, call)(task)
    assert isinstance(caught.value, TypeError) and not api.calls


@pytest.mark.parametrize("given", [None, "t1", {"id": "t1"}])
def test_download_takes_a_result_and_says_what_to_use_instead(face, api, given):
    with pytest.raises(InvalidArgumentError, match="use resume"):
        face(ledger=False).download(given)
    assert not api.calls


@ASYNC_ONLY
def test_a_job_with_task_and_request_fields_is_a_typed_error(face, api):
    flux = face(ledger=False)

    async def first():
        async for outcome in flux.client.iter_many([{"task": "t1", "prompt": "x"}]):
            return outcome

    index, outcome = flux.loop.run_until_complete(first())
    assert index == 0 and isinstance(outcome, InvalidArgumentError)
    assert isinstance(outcome, FluxCannyError) and "takes no request fields" in str(outcome)
    assert not api.calls


def _many(flux, *args, **options):
    return flux.loop.run_until_complete(flux.client.generate_many(*args, **options))


@ASYNC_ONLY
@pytest.mark.parametrize(
    ("options", "error", "says"),
    [
        ({"concurrency": 0}, ConfigurationError, "concurrency must be at least 1"),
        ({"concurrency": "2"}, ConfigurationError, "concurrency must be an integer"),
        ({"max_cost": -1.0}, ConfigurationError, "max_cost must be at least 0"),
        ({"requests": None}, InvalidArgumentError, "an iterable of jobs"),
        ({"requests": {"prompt": "x"}}, InvalidArgumentError, "an iterable of jobs"),
    ],
)
def test_generate_many_refuses_its_own_arguments_before_any_request(
    face, api, options, error, says
):
    flux = face(ledger=False)
    requests = options.pop("requests", [{"task": "t1"}])
    with pytest.raises(error, match=says):
        _many(flux, requests, **options)
    assert not api.calls


@ASYNC_ONLY
def test_a_job_that_is_no_dict_is_its_own_typed_outcome(face, api):
    flux = face(ledger=False)
    (outcome,) = _many(flux, [5])
    assert isinstance(outcome, InvalidArgumentError) and "job 0 is a dict" in str(outcome)
    assert not api.calls


def test_an_image_saved_to_no_path_is_a_typed_error(tmp_path):
    from flux_canny import ImageSaveError
    from flux_canny.images import GeneratedImage

    image = GeneratedImage(data=b"\xff\xd8\xff", format="jpeg", task_id="t1")
    with pytest.raises(InvalidArgumentError, match="takes a path"):
        image.save(None)
    for path in ("", str(tmp_path / "a\0b.jpg")):
        with pytest.raises(ImageSaveError, match="not a file path") as caught:
            image.save(path)
        assert caught.value.task_id == "t1"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("timeout", [math.nan, -1.0, "5"])
@pytest.mark.parametrize("call", ["wait", "resume"])
def test_a_wait_timeout_that_is_no_duration_is_refused_before_any_request(face, api, call, timeout):
    """A NaN deadline never passed, so the wait never ended."""
    with pytest.raises(ConfigurationError, match="timeout must be"):
        getattr(face(ledger=False), call)("t1", timeout=timeout)
    assert not api.calls


@pytest.mark.parametrize("key", [12345678, b"sk-bytes-key", ["sk-in-a-list"]])
def test_a_key_that_is_no_str_is_refused_and_never_shown(key):
    from flux_canny import MissingAPIKeyError

    with pytest.raises(MissingAPIKeyError, match="api_key must be a str") as caught:
        FluxCanny(api_key=key, ledger=False)
    assert "sk-" not in str(caught.value) and "12345678" not in str(caught.value)


@pytest.mark.parametrize("base_url", [5, b"https://api.us1.bfl.ai"])
def test_a_base_url_that_is_no_str_is_refused(base_url):
    with pytest.raises(ConfigurationError, match="base_url must be a str"):
        FluxCanny(api_key=KEY, base_url=base_url, ledger=False)


def test_submit_prepared_takes_only_what_prepare_and_the_ledger_made(face, api, png):
    flux = face(ledger=False)
    for body in ("x", None, {"prompt": "x"}):
        with pytest.raises(InvalidArgumentError, match="takes what prepare"):
            flux.submit_prepared(body)
    body = flux.prepare(control_image=png, prompt="a castle", finetune_id="ft-1")
    with pytest.raises(InvalidArgumentError, match=r"Ledger\.claim"):
        flux.submit_prepared(body, claim="job-1")
    assert not api.calls


@pytest.mark.parametrize(("finetune_id", "says"), [(None, "Field required"), (5, "valid string")])
def test_a_query_parameter_the_spec_would_refuse_is_refused_before_the_get(
    face, api, finetune_id, says
):
    """The generated code dropped None and sent 5 as "5"; the answer came from the
    network. The spec's query parameters decide, as its body schema does for a submit."""
    from flux_canny import RequestValidationError

    with pytest.raises(RequestValidationError, match=says) as caught:
        face(ledger=False).finetune_details(finetune_id)
    assert caught.value.errors[0]["loc"] == ["query", "finetune_id"]
    assert not api.calls
