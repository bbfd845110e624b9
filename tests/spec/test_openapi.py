"""The vendored spec: valid, faithful to the seed, shipped intact, guarded against drift."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from flux_canny._spec import CANNY_PATH, Spec
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
SPEC = json.loads((ROOT / "openapi.json").read_text())


def canny_props() -> dict:
    return Spec(SPEC).request_schema()["properties"]


def _range(prop: dict) -> tuple[float, float]:
    branch = next(b for b in prop.get("anyOf", [prop]) if b.get("type") != "null")
    return branch["minimum"], branch["maximum"]


def test_openapi_json_is_a_valid_openapi_3_1_document():
    assert SPEC["openapi"] == "3.1.0"
    validate(SPEC)


def test_the_seed_numbers_are_in_the_vendored_spec():
    props = canny_props()
    assert _range(props["steps"]) == (15, 50)
    assert _range(props["canny_low_threshold"]) == (0, 500)
    assert _range(props["canny_high_threshold"]) == (0, 500)
    assert _range(props["guidance"]) == (1, 100)
    assert _range(props["finetune_strength"]) == (0, 2)
    assert _range(props["safety_tolerance"]) == (0, 6)
    url = next(b for b in props["webhook_url"]["anyOf"] if b.get("type") == "string")
    assert (url["minLength"], url["maxLength"], url["format"]) == (1, 2083, "uri")
    defaults = {k: v.get("default") for k, v in props.items() if "default" in v}
    assert defaults == {
        "finetune_strength": 1.1,
        "canny_low_threshold": 50,
        "canny_high_threshold": 200,
        "prompt_upsampling": False,
        "steps": 50,
        "output_format": "jpeg",
        "guidance": 30,
        "safety_tolerance": 2,
    }
    assert set(Spec(SPEC).request_schema()["required"]) == {
        "finetune_id",
        "prompt",
        "control_image",
    }
    assert SPEC["components"]["schemas"]["OutputFormat"]["enum"] == ["jpeg", "png"]
    assert len(props) == 14


def test_auth_servers_and_operations_are_as_the_real_server_publishes_them():
    assert SPEC["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-key",
    }
    op = SPEC["paths"][CANNY_PATH]["post"]
    assert op["operationId"] == "flux_pro_1_0_canny_finetuned_v1_flux_pro_1_0_canny_finetuned_post"
    assert op["servers"] == [{"url": "https://api.us1.bfl.ai", "description": "BFL Finetune API"}]
    assert op["security"] == [{"APIKeyHeader": []}]
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]["anyOf"]
    assert [r["$ref"].rsplit("/", 1)[1] for r in ok] == ["AsyncResponse", "AsyncWebhookResponse"]
    assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/HTTPValidationError"
    )
    assert set(SPEC["paths"]) == {
        CANNY_PATH,
        "/v1/get_result",
        "/v1/my_finetunes",
        "/v1/finetune_details",
        "/v1/credits",  # copied from BFL's spec history (tests/data/bfl-openapi/08)
    }
    bfl = json.loads((ROOT / "tests/data/bfl-openapi/08-2026-04-23.json").read_text())
    assert SPEC["paths"]["/v1/credits"] == bfl["paths"]["/v1/credits"]
    assert (
        SPEC["components"]["schemas"]["CreditsResponse"]
        == bfl["components"]["schemas"]["CreditsResponse"]
    )
    statuses = SPEC["components"]["schemas"]["StatusResponse"]["enum"]
    assert {"Pending", "Ready", "Error", "Task not found"} <= set(statuses)


def test_the_packaged_copy_equals_the_root_spec():
    packaged = resources.files("flux_canny").joinpath("openapi.json").read_text()
    assert json.loads(packaged) == SPEC
    assert packaged == (ROOT / "openapi.json").read_text()


def test_check_generated_fails_when_a_bound_changes_without_regenerating(tmp_path: Path):
    """Runs `make check-generated` on a copy of the repo with steps narrowed to 15-49."""
    venv = ROOT / ".venv"
    if not (venv / "bin" / "openapi-python-client").exists():
        pytest.skip("needs the project venv (make install)")
    for name in ("Makefile", "openapi-python-client.yaml", "pyproject.toml", "openapi.json"):
        shutil.copy2(ROOT / name, tmp_path / name)
    shutil.copytree(
        ROOT / "generated", tmp_path / "generated", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tmp_path / "wrapper" / "flux_canny").mkdir(parents=True)
    for name in ("openapi.json", "_params.py"):
        shutil.copy2(ROOT / "wrapper/flux_canny" / name, tmp_path / "wrapper/flux_canny" / name)
    (tmp_path / "tools").mkdir()
    shutil.copy2(ROOT / "tools/gen_params.py", tmp_path / "tools/gen_params.py")
    os.utime(tmp_path / "pyproject.toml", (0, 0))  # older than the venv: no reinstall
    make = ["make", "-s", "check-generated", f"VENV={venv}"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    clean = subprocess.run(make, cwd=tmp_path, capture_output=True, text=True, env=env, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    spec = json.loads((tmp_path / "openapi.json").read_text())
    spec["components"]["schemas"]["FinetuneCannyInputs"]["properties"]["steps"]["maximum"] = 49
    (tmp_path / "openapi.json").write_text(json.dumps(spec, indent=2) + "\n")
    drifted = subprocess.run(
        make, cwd=tmp_path, capture_output=True, text=True, env=env, check=False
    )
    assert drifted.returncode != 0
    assert "make generate" in drifted.stderr
    assert '"maximum": 49' in drifted.stdout
