"""`validate_inputs(body, endpoint=…)` is the server's verdict on every operation of the
spec: it agrees with the spec-built FastAPI oracle (tests/contract/spec_oracle.py, models
by datamodel-code-generator) on the status, the (loc, type) of every error and the
messages, for hundreds of bodies per operation drawn from each operation's own schema.
"""

from __future__ import annotations

from typing import Any

import pytest
from flux_canny import validate_inputs
from flux_canny._operations import Operation, operations
from flux_canny._spec import packaged_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .spec_oracle import MODELS, SpecOracle, generate_source
from .spec_strategies import boundary_cases, minimal_body, mutated_bodies, valid_bodies

SPEC = packaged_spec()
OPERATIONS = list(operations().values())
NAMES = [op.name for op in OPERATIONS]
ORACLE = SpecOracle()
#: bodies per operation: 200 in make test (ci profile), 3,000 in make test-thorough
BODIES = max(200, 3 * settings().max_examples)
#: bodies drawn per hypothesis example: the engine's own cost per example was near half
#: of the drawing (a failure still shrinks, and its message names the body that disagrees)
PER_EXAMPLE = 10


def _verdict(errors: list[dict[str, Any]]) -> set[tuple[tuple[Any, ...], str]]:
    return {(tuple(e["loc"]), e["type"]) for e in errors}


def test_the_committed_oracle_models_are_what_the_generator_writes_from_the_spec():
    """The oracle follows openapi.json: after `make spec`/`sync-spec`, rewrite them with
    `.venv/bin/python -m tests.contract.spec_oracle`."""
    assert generate_source() == MODELS.read_text(), "rewrite tests/contract/_spec_models.py"


def test_the_oracle_serves_every_operation_of_the_spec():
    assert set(ORACLE.operations) == set(operations()) and len(ORACLE.operations) == 17


def _agree(op: Operation, body: Any) -> bool:
    status, detail = ORACLE.judge(op.name, body)
    local = validate_inputs(body, endpoint=op.name)
    assert status in (200, 422), (status, body)
    assert (status == 200) == (local == []), (body, detail, local)
    assert _verdict(local) == _verdict(detail), (body, detail, local)
    assert [e["msg"] for e in local] == [e["msg"] for e in detail], body
    return status == 200


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_validate_inputs_agrees_with_the_spec_oracle_on_hundreds_of_bodies(op):
    seen = {True: 0, False: 0}

    body = st.one_of(valid_bodies(SPEC, op), mutated_bodies(SPEC, op))

    @settings(
        max_examples=BODIES // PER_EXAMPLE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(body, min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
    def agree(bodies):
        for one in bodies:
            seen[_agree(op, one)] += 1

    agree()
    assert seen[True] + seen[False] >= 200
    assert seen[True] > 20 and seen[False] > 20, seen


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_every_bound_of_every_operation_is_judged_as_the_oracle_judges_it(op):
    for field, value, error in boundary_cases(SPEC, op):
        body = {**minimal_body(SPEC, op), field: value}
        assert _agree(op, body) == (error is None), (field, value)
        if error is not None:
            assert (("body", field), error) in _verdict(validate_inputs(body, op.name))


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.required], ids=lambda op: op.name)
def test_a_missing_required_field_is_judged_as_the_oracle_judges_it(op):
    for missing in sorted(op.required):
        body = minimal_body(SPEC, op)
        del body[missing]
        assert not _agree(op, body)
        assert _verdict(validate_inputs(body, op.name)) == {(("body", missing), "missing")}
