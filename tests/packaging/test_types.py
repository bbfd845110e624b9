"""The request's types reach users' type checkers: a typo or a wrong type fails mypy."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

from flux_canny import AsyncFluxCanny, FluxCanny
from flux_canny._params import (
    AsyncCalls,
    FinetuneCannyInputsFields,
    GenerationParams,
    PrepareCalls,
    SyncCalls,
)
from flux_canny._spec import packaged_spec

ROOT = Path(__file__).resolve().parents[2]

DOWNSTREAM_BAD = """
from flux_canny import FluxCanny

flux = FluxCanny(api_key="k")
flux.generate(control_image=b"", prompt="p", finetune_id="f", stepz=30)
flux.submit(control_image=b"", prompt="p", finetune_id="f", steps="30")
flux.prepare(control_image=b"", prompt="p", finetune_id="f", output_format="gif")
"""

DOWNSTREAM_GOOD = """
from flux_canny import FluxCanny, Result

flux = FluxCanny(api_key="k")
image = flux.generate(
    control_image=b"", prompt="p", finetune_id="f", steps=30, output_format="png", seed=None
)
result: Result = flux.wait(flux.submit(control_image=b"", prompt="p", finetune_id="f"))
if result.model is not None:  # the generated model, typed (py.typed)
    print(result.model.id)
print(image.data, result.status)
"""


def test_a_downstream_typo_or_wrong_type_fails_mypy_strict_and_a_correct_call_passes(tmp_path):
    (tmp_path / "bad.py").write_text(DOWNSTREAM_BAD)
    (tmp_path / "good.py").write_text(DOWNSTREAM_GOOD)
    ran = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", ".cache", "bad.py", "good.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in ran.stdout.splitlines() if ": error:" in line]
    assert all(line.startswith("bad.py:") for line in errors), ran.stdout
    assert (
        'Unexpected keyword argument "stepz"' in ran.stdout and 'did you mean "steps"' in ran.stdout
    )
    # typed per endpoint by overloads: a wrong type matches none of them
    assert 'No overload variant of "submit"' in ran.stdout
    assert 'No overload variant of "prepare"' in ran.stdout
    assert len({line.split(":")[1] for line in errors}) == 3, ran.stdout


def test_the_typed_fields_are_the_specs_optional_request_fields():
    schema = packaged_spec().request_schema()
    hints = typing.get_type_hints(GenerationParams)
    assert set(hints) == set(schema["properties"]) - {"control_image", "prompt", "finetune_id"}
    assert set(typing.get_args(hints["output_format"])) >= {typing.Literal["jpeg", "png"]}
    seeds = typing.get_type_hints(FinetuneCannyInputsFields)
    assert set(seeds) == set(schema["properties"])
    assert issubclass(FluxCanny, SyncCalls) and issubclass(AsyncFluxCanny, AsyncCalls)
    for cls, method in [
        (SyncCalls, "submit"),
        (SyncCalls, "generate"),
        (AsyncCalls, "generate"),
        (PrepareCalls, "prepare"),
    ]:
        typed = [o.__annotations__["fields"] for o in typing.get_overloads(getattr(cls, method))]
        assert "Unpack[FinetuneCannyInputsFields]" in typed
