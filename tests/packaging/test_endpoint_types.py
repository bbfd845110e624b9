"""Every endpoint's request is typed for users' type checkers: `mypy --strict` refuses a
misspelt field and a field that belongs to another endpoint, and passes a correct call."""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest
from flux_canny import _params
from flux_canny._operations import operations

#: a sample of endpoints, one per request schema family (mypy runs once for all of them)
SAMPLE = ["flux-2-pro", "flux-kontext-max", "flux-pro-1.0-fill", "flux-pro-1.1-ultra-finetuned"]


def _call(endpoint: str, extra: str, method: str = "submit") -> str:
    op = operations()[endpoint]
    fields = {"prompt": '"p"'} if "prompt" in op.field_names else {}
    fields |= {name: 'b""' for name in op.required & set(op.image_fields)}
    if "finetune_id" in op.required:
        fields["finetune_id"] = '"f"'
    args = ", ".join([f'endpoint="{endpoint}"', *(f"{k}={v}" for k, v in fields.items())])
    return f"flux.{method}({args}{extra})\n"


def test_a_wrong_field_of_each_sampled_endpoint_fails_mypy_strict_and_a_right_one_passes(
    tmp_path,
):
    header = "from flux_canny import FluxCanny\n\nflux = FluxCanny(api_key='k')\n"
    bad, good, expected = header, header, 0
    for endpoint in SAMPLE:
        op = operations()[endpoint]
        foreign = "control_image" if "control_image" not in op.field_names else "input_image"
        bad += _call(endpoint, ", sead=1")  # misspelt
        bad += _call(endpoint, f", {foreign}=b''", "generate")  # another endpoint's field
        expected += 2
        good += _call(endpoint, ", seed=1")
    bad += 'flux.prepare(endpoint="flux-2-pro", prompt="p", input_image_9=b"")\n'
    bad += 'flux.submit(endpoint="flux-2-por", prompt="p")\n'  # no such endpoint
    expected += 2
    (tmp_path / "bad.py").write_text(bad)
    (tmp_path / "good.py").write_text(good)
    ran = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", ".cache", "bad.py", "good.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in ran.stdout.splitlines() if ": error:" in line]
    assert all(line.startswith("bad.py:") for line in errors), ran.stdout
    assert len({line.split(":")[1] for line in errors}) == expected, ran.stdout
    assert 'Unexpected keyword argument "sead"' in ran.stdout


@pytest.mark.parametrize("op", list(operations().values()), ids=list(operations()))
def test_each_endpoints_typed_fields_are_its_request_fields(op):
    typed = getattr(_params, f"{op.schema_name}Fields")
    hints = typing.get_type_hints(typed)
    assert set(hints) == set(op.field_names)
    # read as written: `from __future__ import annotations` leaves __required_keys__ unset
    required = {
        name
        for name, kind in typed.__annotations__.items()
        if "Required[" in getattr(kind, "__forward_arg__", str(kind))
    }
    assert required == op.required
    assert op.name in typing.get_args(_params.Endpoint)


def test_the_endpoint_names_are_public_as_a_literal_type():
    """`endpoint: flux_canny.Endpoint` in users' code: every operation's name, no other."""
    import flux_canny

    assert typing.get_args(flux_canny.Endpoint) == tuple(operations())
    assert "Endpoint" in flux_canny.__all__
