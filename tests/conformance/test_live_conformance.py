"""check_responses=True: drift between the live API and its spec is noticed, never fatal."""

from __future__ import annotations

import logging

import pytest
from flux_canny import FluxCanny
from flux_canny.fake import FakeBFL, FakeServer, VirtualClock

from ..conftest import make_image

RESULT = "GET /v1/get_result"
SUBMIT = "POST /v1/flux-pro-1.0-canny-finetuned"


@pytest.fixture
def fake():
    return FakeBFL(clock=VirtualClock(), task_duration=3.0)


def _generate(client):
    return client.generate(control_image=make_image(), prompt="p", finetune_id="my-finetune")


def _kinds(report):
    return {(d.operation, d.kind, d.where) for d in report}


def test_a_faithful_api_gives_an_empty_report(fake):
    fake.spec_only = True  # the live API's extra statuses are real deviations from the spec
    with fake.client(check_responses=True) as client:
        _generate(client)
        client.my_finetunes()
        client.finetune_details("my-finetune")
    report = client.conformance
    assert report is not None and len(report) == 0
    assert report.responses_checked >= 5  # submit, polls, finetunes, details; not the download
    assert "all as the spec says" in report.summary()


def test_off_spec_statuses_are_reported_and_the_call_still_succeeds(fake, caplog):
    fake.pending_status = "Generating"
    with (
        caplog.at_level(logging.DEBUG, logger="flux_canny.conformance"),
        fake.client(check_responses=True) as client,
    ):
        image = _generate(client)
    assert image.data
    report = client.conformance
    assert _kinds(report) == {(RESULT, "unknown-enum-value", "status")}
    (deviation,) = set(report)
    assert '"Generating" is not one of' in deviation.detail and '"Ready"' in deviation.detail
    polls_generating = report.kinds()["unknown-enum-value"]
    assert polls_generating >= 1
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "flux_canny.conformance"
    ]
    assert len(warnings) == 1 and "Generating" in warnings[0].getMessage()  # once, then DEBUG


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        (dict(path="/v1/get_result", drop=["id"]), (RESULT, "missing-required-field", "id")),
        (
            dict(path="/v1/get_result", replace={"progress": "half"}),
            (RESULT, "unexpected-type", "progress"),
        ),
        (dict(path="/v1/get_result", status=202), (RESULT, "undocumented-status", "")),
        (dict(path="/v1/flux-pro", replace={"cost": "5"}), (SUBMIT, "unexpected-type", "cost")),
        (
            dict(path="/v1/my_finetunes", replace={"finetunes": "my-finetune"}),
            ("GET /v1/my_finetunes", "unexpected-type", "finetunes"),
        ),
    ],
    ids=[
        "missing-field",
        "wrong-type",
        "undocumented-status",
        "submit-cost-type",
        "finetunes-type",
    ],
)
def test_each_kind_of_drift_is_reported(fake, drift, expected):
    fake.drift(**drift)
    with fake.client(check_responses=True) as client:
        if expected[0] == "GET /v1/my_finetunes":
            client.my_finetunes()
        else:
            assert _generate(client).data  # the drift is reported, the call still succeeds
    assert expected in _kinds(client.conformance)


def test_the_report_is_off_by_default_and_on_from_the_environment(fake, monkeypatch):
    fake.pending_status = "Generating"
    with fake.client() as client:
        _generate(client)
    assert client.conformance is None
    monkeypatch.setenv("FLUX_CANNY_CHECK_RESPONSES", "1")
    with fake.client() as client:
        _generate(client)
    assert client.conformance is not None and len(client.conformance) >= 1


def test_async_face_and_loopback_server_report_the_same(fake):
    import asyncio

    with FakeServer(FakeBFL(task_duration=1.5, pending_status="Generating")) as server:
        server.fake.drift("/v1/get_result", drop=["id"])

        async def go():
            async with server.fake.async_client(
                transport=None, clock=None, base_url=server.base_url, check_responses=True
            ) as client:
                await client.generate(
                    control_image=make_image(), prompt="p", finetune_id="my-finetune"
                )
                return client.conformance

        report = asyncio.run(go())
    assert {(d.kind, d.where) for d in report} == {
        ("unknown-enum-value", "status"),
        ("missing-required-field", "id"),
    }


def test_a_checker_failure_never_fails_the_call(fake, monkeypatch):
    from flux_canny.conformance import ResponseChecker

    def broken(self, *args):
        raise RuntimeError("checker bug")

    monkeypatch.setattr(ResponseChecker, "check", broken)
    with fake.client(check_responses=True) as client:
        assert _generate(client).data
    assert isinstance(client, FluxCanny) and len(client.conformance) == 0
