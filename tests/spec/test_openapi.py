"""The vendored spec: valid, faithful to the seed, shipped intact, guarded against drift.

openapi.json is BFL's newest published document (spec/upstream/) with the seed's operation
added by spec/overlay.yaml (`make spec`)."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from flux_canny._spec import CANNY_PATH, Spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = json.loads((ROOT / "openapi.json").read_text())
UPSTREAM = json.loads((ROOT / "spec/upstream/bfl-openapi.json").read_text())


def _build_spec():
    """tools/build_spec.py, the one place that says what a valid document is here."""
    found = importlib.util.spec_from_file_location("build_spec", ROOT / "tools/build_spec.py")
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def canny_props() -> dict:
    return Spec(SPEC).request_schema()["properties"]


def _range(prop: dict) -> tuple[float, float]:
    branch = next(b for b in prop.get("anyOf", [prop]) if b.get("type") != "null")
    return branch["minimum"], branch["maximum"]


def test_openapi_json_is_a_valid_openapi_3_1_document():
    assert SPEC["openapi"] == "3.1.0"
    validate_openapi = _build_spec().validate_openapi
    validate_openapi(SPEC)
    # BFL's document gives width/height defaults (0) under their minimum (64): `default` is
    # an annotation in OpenAPI 3.1, so only the stock validator's check of it is left out
    broken = copy.deepcopy(SPEC)
    broken["components"]["schemas"]["FinetuneCannyInputs"]["properties"]["steps"]["type"] = 5
    with pytest.raises(Exception, match="is not valid under any of the given schemas"):
        validate_openapi(broken)


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
    # its own output formats: BFL's OutputFormat, which the seed no longer shares, has webp
    output_format = Spec(SPEC).resolve(props["output_format"]["anyOf"][0])
    assert output_format["enum"] == ["jpeg", "png"]
    assert SPEC["components"]["schemas"]["OutputFormat"]["enum"] == ["jpeg", "png", "webp"]
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
    assert op["x-flux-canny-seed"] is True and "BFL no longer publishes" in op["description"]
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]["anyOf"]
    assert [r["$ref"].rsplit("/", 1)[1] for r in ok] == ["AsyncResponse", "AsyncWebhookResponse"]
    assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/HTTPValidationError"
    )
    # BFL's document as published (today 08-2026-04-23), and the seed's operation and
    # schemas beside it
    bfl = UPSTREAM
    assert set(SPEC["paths"]) == {*bfl["paths"], CANNY_PATH}
    assert {path: SPEC["paths"][path] for path in bfl["paths"]} == bfl["paths"]
    schemas = SPEC["components"]["schemas"]
    assert {name: schemas[name] for name in bfl["components"]["schemas"]} == bfl["components"][
        "schemas"
    ]
    assert set(schemas) - set(bfl["components"]["schemas"]) == {
        "FinetuneCannyInputs",
        "FinetuneCannyOutputFormat",
    }
    assert {k: v for k, v in SPEC.items() if k not in ("paths", "components")} == {
        k: v for k, v in bfl.items() if k not in ("paths", "components")
    }
    statuses = SPEC["components"]["schemas"]["StatusResponse"]["enum"]
    assert {"Pending", "Ready", "Error", "Task not found"} <= set(statuses)


def test_the_packaged_copy_equals_the_root_spec():
    packaged = resources.files("flux_canny").joinpath("openapi.json").read_text()
    assert json.loads(packaged) == SPEC
    assert packaged == (ROOT / "openapi.json").read_text()


def _repo_for_make(tmp_path: Path):
    """A copy of what the spec targets read and write; runs `make TARGET` there."""
    venv = ROOT / ".venv"
    if not (venv / "bin" / "openapi-python-client").exists():
        pytest.skip("needs the project venv (make install)")
    for name in ("Makefile", "openapi-python-client.yaml", "pyproject.toml", "openapi.json"):
        shutil.copy2(ROOT / name, tmp_path / name)
    skip = shutil.ignore_patterns("__pycache__")
    for folder in ("generated", "spec"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=skip)
    (tmp_path / "wrapper" / "flux_canny").mkdir(parents=True)
    for name in ("openapi.json", "_params.py"):
        shutil.copy2(ROOT / "wrapper/flux_canny" / name, tmp_path / "wrapper/flux_canny" / name)
    (tmp_path / "tools").mkdir()
    for name in ("gen_params.py", "build_spec.py"):
        shutil.copy2(ROOT / "tools" / name, tmp_path / "tools" / name)
    os.utime(tmp_path / "pyproject.toml", (0, 0))  # older than the venv: no reinstall
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def make(target: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "-s", target, f"VENV={venv}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    return make


def test_check_generated_fails_when_a_bound_changes_without_regenerating(tmp_path: Path):
    """`make check-generated` on a copy of the repo whose overlay narrows steps to 15-49."""
    make = _repo_for_make(tmp_path)
    clean = make("check-generated")
    assert clean.returncode == 0, clean.stdout + clean.stderr

    overlay = tmp_path / "spec/overlay.yaml"
    text = overlay.read_text()
    assert text.count("maximum: 50.0") == 1
    overlay.write_text(text.replace("maximum: 50.0", "maximum: 49.0"))
    assert make("spec").returncode == 0
    spec = json.loads((tmp_path / "openapi.json").read_text())
    assert spec["components"]["schemas"]["FinetuneCannyInputs"]["properties"]["steps"][
        "maximum"
    ] == pytest.approx(49)
    drifted = make("check-generated")
    assert drifted.returncode != 0
    assert "make generate" in drifted.stderr and "make spec" not in drifted.stderr
    assert '"maximum": 49.0' in drifted.stdout


def test_check_generated_fails_when_openapi_json_is_edited_by_hand(tmp_path: Path):
    """openapi.json is built from spec/: an edit there, even regenerated, is drift."""
    make = _repo_for_make(tmp_path)
    spec = json.loads((tmp_path / "openapi.json").read_text())
    spec["components"]["schemas"]["FinetuneCannyInputs"]["properties"]["steps"]["maximum"] = 49
    (tmp_path / "openapi.json").write_text(json.dumps(spec, indent=2) + "\n")
    assert make("generate").returncode == 0
    drifted = make("check-generated")
    assert drifted.returncode != 0
    assert "run 'make spec'" in drifted.stderr and "make generate" not in drifted.stderr
    said = drifted.stdout.splitlines()  # the diff says what differs
    assert any(line.startswith("-") and '"maximum": 49,' in line for line in said)
    assert make("spec").returncode == 0
    assert json.loads((tmp_path / "openapi.json").read_text()) == SPEC
