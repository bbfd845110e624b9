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
    for folder in ("generated", "spec", "wrapper", "tools", "tests"):
        shutil.copytree(ROOT / folder, target / folder, ignore=skip)
    os.utime(target / "pyproject.toml", (0, 0))  # older than the venv: no reinstall


def _upstream() -> dict:
    return json.loads((ROOT / "spec/upstream/bfl-openapi.json").read_text())


def test_sync_spec_diffs_regenerates_and_reruns_the_suite_which_catches_the_break(tmp_path):
    """SPEC is BFL's new document: it becomes spec/upstream/, the overlay is re-applied."""
    if not (VENV / "bin" / "openapi-python-client").exists():
        pytest.skip("needs the project venv (make install)")
    _copy_repo(tmp_path)
    upstream = _upstream()  # BFL's own document, defaults outside their bounds included
    answer = upstream["components"]["schemas"]["AsyncResponse"]
    del answer["properties"]["polling_url"]  # what every submit answer is polled by
    answer["required"].remove("polling_url")
    new = tmp_path / "new-openapi.json"
    new.write_text(json.dumps(upstream, separators=(",", ":")))

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
    said = " ".join(out.split())  # rich folds the table's cells
    # the diff of openapi.json, per operation, classified: the seed's operation reads it too
    assert "'polling_url' removed (the client reads it)" in said
    # one paragraph for the change every operation's answer shares, headed by the endpoints
    header = next(line for line in out.splitlines() if "change(s), 1 breaking" in line)
    assert "flux-pro-1.0-canny-finetuned" in header and "flux-2-pro" in header, header
    assert "1 breaking change(s); contract suite FAILED" in said
    # the upstream input was replaced as published, and openapi.json rebuilt with the overlay
    assert (tmp_path / "spec/upstream/bfl-openapi.json").read_bytes() == new.read_bytes()
    built = json.loads((tmp_path / "openapi.json").read_text())
    assert built["components"]["schemas"]["AsyncResponse"] == answer
    assert built["paths"]["/v1/flux-pro-1.0-canny-finetuned"]["post"]["x-flux-canny-seed"]
    assert json.loads((tmp_path / "wrapper/flux_canny/openapi.json").read_text()) == built
    # and generated/ regenerated from it
    model = (tmp_path / "generated/flux_canny_api/models/async_response.py").read_text()
    assert "polling_url" not in model
    assert "polling_url" in (ROOT / "generated/flux_canny_api/models/async_response.py").read_text()
    # the suite ran on the copy, and failed where the contract broke
    assert " failed" in out and "passed" in out


def test_sync_spec_refuses_a_document_that_publishes_the_seed_operation_again(tmp_path):
    """The overlay only adds: were BFL to publish the canny finetune again, the two
    versions are not merged unseen; nothing changes and the overlay's owner decides."""
    for name in ("openapi.json",):
        shutil.copy2(ROOT / name, tmp_path / name)
    for folder in ("spec", "tools"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    upstream = _upstream()
    seed = json.loads((ROOT / "openapi.json").read_text())["paths"]
    upstream["paths"]["/v1/flux-pro-1.0-canny-finetuned"] = seed["/v1/flux-pro-1.0-canny-finetuned"]
    new = tmp_path / "new-openapi.json"
    new.write_text(json.dumps(upstream))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != new}
    ran = subprocess.run(
        [sys.executable, str(tmp_path / "tools/sync_spec.py"), str(new)],
        capture_output=True,
        text=True,
        check=False,
    )
    said = " ".join(ran.stdout.split())
    assert ran.returncode == 2, said + ran.stderr
    assert "spec/overlay.yaml does not apply" in said
    assert "now has /v1/flux-pro-1.0-canny-finetuned at $.paths" in said
    assert {p: p.read_bytes() for p in before} == before


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
