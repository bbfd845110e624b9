"""Every endpoint's request is typed for users' type checkers: `mypy --strict` refuses a
misspelt field and a field that belongs to another endpoint, and passes a correct call."""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest
from flux_canny import _params
from flux_canny._operations import Operation, operations

OPERATIONS = list(operations().values())


def _call(endpoint: str, extra: str, method: str = "submit", face: str = "flux") -> str:
    op = operations()[endpoint]
    fields = {"prompt": '"p"'} if "prompt" in op.field_names else {}
    fields |= {name: 'b""' for name in op.required & set(op.image_fields)}
    if "finetune_id" in op.required:
        fields["finetune_id"] = '"f"'
    args = ", ".join([f'endpoint="{endpoint}"', *(f"{k}={v}" for k, v in fields.items())])
    call = f"{face}.{method}({args}{extra})"
    return f"    await {call}\n" if face == "aflux" else f"{call}\n"


def _foreign(op: Operation) -> str:
    """A field of another endpoint that `op` does not take (read from the spec)."""
    return next(
        name
        for other in OPERATIONS
        for name in sorted(other.field_names - op.field_names)
        if other.name != op.name
    )


def test_a_wrong_field_of_every_endpoint_fails_mypy_strict_and_a_right_one_passes(tmp_path):
    """Every endpoint, on both faces, in one mypy run: a misspelt field and another
    endpoint's field are each an error on their own line; the right calls are clean."""
    header = (
        "from flux_canny import AsyncFluxCanny, FluxCanny\n\n"
        "flux = FluxCanny(api_key='k')\naflux = AsyncFluxCanny(api_key='k')\n"
    )
    sync_bad, async_bad, good, expected = "", "", "", 0
    for op in OPERATIONS:
        foreign = _foreign(op)
        typo = "sead" if "seed" in op.field_names else "promt"
        sync_bad += _call(op.name, f", {typo}=1")  # misspelt
        sync_bad += _call(op.name, f", {foreign}=b''", "generate")  # another endpoint's
        async_bad += _call(op.name, f", {typo}=1", "prepare", face="aflux")
        async_bad += _call(op.name, f", {foreign}=b''", "submit", face="aflux")
        expected += 4
        good += _call(op.name, ", seed=1" if "seed" in op.field_names else "")
        good += _call(op.name, "", "generate", face="aflux")
    sync_bad += 'flux.prepare(endpoint="flux-2-pro", prompt="p", input_image_9=b"")\n'
    sync_bad += 'flux.submit(endpoint="flux-2-por", prompt="p")\n'  # no such endpoint
    expected += 2
    (tmp_path / "bad.py").write_text(header + sync_bad + _in_async(async_bad))
    (tmp_path / "good.py").write_text(header + _in_async(good))
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


def _in_async(lines: str) -> str:
    """The calls inside one coroutine: the async face's are awaited there."""
    body = "".join(
        line + "\n" if line.startswith("    ") else f"    {line}\n" for line in lines.splitlines()
    )
    return "\n\nasync def main() -> None:\n" + body


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
