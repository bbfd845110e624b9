"""The zero-cost probe: every constraint checked, nothing ever paid for."""

from __future__ import annotations

import json

import pytest
import respx
from flux_canny import FluxCanny
from flux_canny._spec import packaged_spec
from flux_canny.cli import _exit
from flux_canny.fake import FakeBFL, VirtualClock
from flux_canny.probe import plan_bodies
from flux_canny.validation import default_validator

from ..conftest import BASE, KEY


def _probe(face, constraints=None, **knobs):
    fake = FakeBFL(constraints=constraints, **knobs)
    client = face(transport=fake.transport(), api_key="test-key", ledger=False)
    return client.probe(), fake


def test_every_planned_body_carries_two_guaranteed_errors():
    validator = default_validator()
    bodies = plan_bodies(packaged_spec())
    assert 6 <= len(bodies) <= 10  # few requests, whatever the spec holds
    for cases in bodies:
        guards = [c for c in cases if c.guard]
        body = {c.field: c.value for c in cases if c.present}
        refused = {e["loc"][1] for e in validator.errors(body)}
        assert len(guards) == 2 and {g.field for g in guards} <= refused


def test_an_unchanged_server_agrees_on_every_constraint_and_nothing_is_created(face):
    report, fake = _probe(face)
    assert report.agrees and not fake.tasks
    assert {r.status for r in fake.records} == {422}  # every probe body refused
    assert report.requests == len(plan_bodies(packaged_spec()))
    checked = {(f.field, f.constraint) for f in report.findings}
    for expected in [
        ("steps", "maximum"),
        ("steps", "minimum"),
        ("guidance", "type"),
        ("output_format", "enum"),
        ("output_format", "enum values"),
        ("webhook_url", "format"),
        ("webhook_url", "maxLength"),
        ("prompt", "required"),
        ("seed", "required"),
    ]:
        assert expected in checked, expected


@pytest.mark.parametrize(
    ("constraints", "said"),
    [
        ({"steps": {"maximum": 60}}, "steps: spec maximum 50, server accepts 51..60, refuses 61"),
        (
            {"steps": {"maximum": 45}},
            "steps: spec maximum 50, server refuses 50; the maximum is now 45",
        ),
        ({"steps": {"minimum": 10}}, "steps: spec minimum 15, server accepts 10..14, refuses 9"),
        (
            {"guidance": {"exclusiveMaximum": 100, "maximum": None}},
            "guidance: spec maximum 100, server refuses 100 itself: the maximum is now exclusive",
        ),
        (
            {"output_format": {"enum": ["jpeg", "png", "webp"]}},
            "output_format: spec enum values 'jpeg', 'png', server also accepts 'webp'",
        ),
        (
            {"output_format": {"enum": ["jpeg"]}},
            "output_format: spec enum 'png', server refuses 'png'",
        ),
        ({"seed": {"required": True}}, "seed: spec says optional, server now requires it"),
        (
            {"prompt": {"required": False}},
            "prompt: spec says required, server no longer requires it",
        ),
        (
            {"safety_tolerance": {"type": "string", "maximum": None, "minimum": None}},
            "safety_tolerance: spec type integer, server accepts 'not-a-number' where the spec says integer",
        ),
    ],
)
def test_each_kind_of_change_is_named_and_nothing_is_created(face, constraints, said):
    report, fake = _probe(face, constraints)
    assert not report.agrees and said in [str(f) for f in report.differences]
    assert not fake.tasks and report.task_created is None


def test_a_server_that_accepts_a_probe_body_stops_it_at_once_loudly():
    with respx.mock() as api, FluxCanny(api_key=KEY, ledger=False) as flux:
        route = api.post(f"{BASE}/v1/flux-pro-1.0-canny-finetuned").respond(
            200, json={"id": "oops", "polling_url": f"{BASE}/v1/get_result?id=oops"}
        )
        report = flux.probe()
    assert route.call_count == 1 and report.task_created == "oops" and not report.agrees
    assert report.summary().startswith("STOPPED: the server ACCEPTED a probe body")
    assert "oops" in report.summary() and "will be paid" in report.summary()


def test_probe_from_the_command_line(run, wire_cli):
    for constraints, code in ((None, 0), ({"steps": {"maximum": 60}}, _exit.EXIT_ERROR)):
        fake = FakeBFL(constraints=constraints, clock=VirtualClock())
        # the probe's 0.2 s pace between requests passes on the fake's clock, not the wall's
        options = {"transport": fake.transport(), "clock": fake.clock}
        wire_cli(**options)
        ran = run("probe")
        assert ran.code == code, ran.err
        first = ran.out.splitlines()[0]
        assert "constraints checked in" in first
        if code:
            assert "steps: spec maximum 50, server accepts 51..60, refuses 61" in ran.out
        document = json.loads(run("probe --json").out)
        assert document["agrees"] is (code == 0) and document["task_created"] is None
        assert not fake.tasks


def test_a_rate_limited_probe_waits_and_an_api_refusal_exits_3(run, wire_cli):
    fake = FakeBFL(clock=VirtualClock())
    fake.fail_next(1, 429, path="/v1/flux-pro-1.0-canny-finetuned", retry_after=0.01)
    options = {"transport": fake.transport(), "clock": fake.clock}
    wire_cli(**options)
    assert run("probe").code == 0  # the 429 was honoured and retried
    ran = run("probe --api-key wrong-key")
    assert ran.code == _exit.EXIT_REJECTED and "refused" in ran.err
    assert not fake.tasks
