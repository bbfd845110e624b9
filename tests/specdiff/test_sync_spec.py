"""`make sync-spec` on a copy of the repo: it diffs, regenerates and reruns the suite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"


def _copy_repo(target: Path) -> None:
    for name in ("Makefile", "openapi-python-client.yaml", "pyproject.toml", "openapi.json"):
        shutil.copy2(ROOT / name, target / name)
    skip = shutil.ignore_patterns("__pycache__", ".hypothesis", "*.pyc")
    for folder in ("generated", "wrapper", "tools", "tests"):
        shutil.copytree(ROOT / folder, target / folder, ignore=skip)
    os.utime(target / "pyproject.toml", (0, 0))  # older than the venv: no reinstall


def test_sync_spec_diffs_regenerates_and_reruns_the_suite_which_catches_the_break(tmp_path):
    if not (VENV / "bin" / "openapi-python-client").exists():
        pytest.skip("needs the project venv (make install)")
    _copy_repo(tmp_path)
    spec = json.loads((tmp_path / "openapi.json").read_text())
    inputs = spec["components"]["schemas"]["FinetuneCannyInputs"]["properties"]
    inputs["steps"]["minimum"] = 20  # narrows a range the seed pins
    del inputs["webhook_secret"]  # changes the generated model
    new = tmp_path / "new-openapi.json"
    new.write_text(json.dumps(spec, indent=2) + "\n")

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    # the rerun stops at its first failure: what this proves is that the suite runs on the
    # new tree and catches the break, not the whole suite again (23 s -> a few)
    env["PYTEST_ADDOPTS"] = "-x"
    ran = subprocess.run(
        ["make", "-s", "sync-spec", f"SPEC={new}", f"VENV={VENV}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    out = ran.stdout
    assert ran.returncode != 0, out + ran.stderr
    # the diff, classified
    assert "range-narrowed: minimum 15 → 20" in out and "property-removed" in out
    assert "2 breaking change(s); contract suite FAILED" in out
    # the tree was replaced and regenerated
    assert json.loads((tmp_path / "openapi.json").read_text()) == spec
    assert json.loads((tmp_path / "wrapper/flux_canny/openapi.json").read_text()) == spec
    model = (tmp_path / "generated/flux_canny_api/models/finetune_canny_inputs.py").read_text()
    assert "webhook_secret" not in model
    assert (
        "webhook_secret"
        in (ROOT / "generated/flux_canny_api/models/finetune_canny_inputs.py").read_text()
    )
    # the suite ran on the copy, and failed where the contract broke
    assert "test_the_seed_numbers_are_in_the_vendored_spec" in out
    assert "passed" in out


def test_sync_spec_refuses_a_document_that_is_not_openapi(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"paths": {"/x": {"get": {}}}}))
    ran = subprocess.run(
        [sys.executable, str(ROOT / "tools/sync_spec.py"), str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    said = " ".join(ran.stdout.split())  # rich folds long paths at any width
    assert ran.returncode == 2 and "not a usable OpenAPI document" in said
    assert (ROOT / "openapi.json").read_text() == (
        ROOT / "wrapper/flux_canny/openapi.json"
    ).read_text()


def test_sync_spec_from_an_unreachable_url_fails_cleanly_and_changes_nothing():
    before = (ROOT / "openapi.json").read_text()
    ran = subprocess.run(
        [sys.executable, str(ROOT / "tools/sync_spec.py"), "https://127.0.0.1:9/openapi.json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    said = " ".join(ran.stdout.split())
    assert ran.returncode == 2 and "cannot fetch https://127.0.0.1:9/openapi.json" in said
    assert (ROOT / "openapi.json").read_text() == before
