"""`probe --endpoint NAME | --all`: the zero-task probe for every operation (issue 30)."""

from __future__ import annotations

import copy
import json

import pytest
from flux_canny._operations import CANNY, operations
from flux_canny._spec import Spec, packaged_spec
from flux_canny.fake import FakeBFL, VirtualClock
from flux_canny.probe import plan_bodies
from flux_canny.validation import RequestValidator


@pytest.mark.parametrize("name", list(operations()))
def test_every_body_of_every_operation_carries_two_guaranteed_errors(name):
    """Sent to an endpoint with fewer than two required text fields too, no probe body
    can create a task: our own validator finds both of its guaranteed errors."""
    spec = packaged_spec()
    path = operations()[name].path
    validator = RequestValidator(spec, path)
    bodies = plan_bodies(spec, path)
    probed = set()
    for cases in bodies:
        guards = [c for c in cases if c.guard]
        body = {c.field: c.value for c in cases if c.present}
        refused = {e["loc"][1] for e in validator.errors(body)}
        assert len(guards) == 2 and {g.field for g in guards} <= refused, body
        probed |= {c.field for c in cases if not c.guard}
    optional = set(spec.request_schema(path)["properties"]) - operations()[name].required
    assert optional <= probed  # a field one pair guards is probed under the other


def test_probe_all_checks_every_endpoint_and_creates_nothing(run, fake):
    ran = run("probe --all")
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert [line.split(":")[0] for line in lines] == list(operations())
    assert all(line.endswith(", 0 differ") for line in lines)
    assert not fake.tasks and {r.status for r in fake.records} == {422}
    paths = {r.path for r in fake.records}
    assert paths == {op.path for op in operations().values()}


def _drifted_flux2() -> Spec:
    """BFL's FLUX.2 schema with the width's minimum raised from 64 to 128."""
    document = copy.deepcopy(dict(packaged_spec().document))
    width = document["components"]["schemas"]["Flux2Inputs"]["properties"]["width"]
    width["anyOf"][0]["minimum"] = 128.0
    return Spec(document)


def test_a_bound_moved_on_one_endpoint_is_found_there_alone(run, wire_cli, workdir):
    fake = FakeBFL(clock=VirtualClock(), spec=_drifted_flux2())
    wire_cli(transport=fake.transport(), clock=fake.clock)
    ran = run("probe --endpoint flux-2-pro")
    assert ran.code == 1
    assert "width: spec minimum 64, server refuses 64; the minimum is now 128" in ran.out
    assert run("probe").code == 0  # the canny finetune's schema did not move
    ran = run("probe --all --json")
    assert ran.code == 1
    verdicts = {r["endpoint"]: r["agrees"] for r in ran.json_lines()}
    assert verdicts["flux-2-pro"] is False and verdicts[CANNY] is True
    assert not fake.tasks


def test_probe_takes_one_endpoint_or_all_of_them(run, fake):
    ran = run("probe --all --endpoint flux-2-pro")
    assert ran.code == 2 and "not both" in ran.err and not fake.records
    ran = run("probe --endpoint flux-2-pr")
    assert ran.code == 2 and "did you mean 'flux-2-pro'?" in ran.err
    assert len(ran.err.splitlines()) == 1 and not fake.records
    report = json.loads(run("probe --endpoint flux-kontext-pro --json").out)
    assert report["agrees"] and report["task_created"] is None
