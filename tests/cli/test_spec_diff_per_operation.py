"""`spec-diff`: changes grouped per operation, and the endpoints a client would lose
(issue 30)."""

from __future__ import annotations

import copy
import json

import pytest
from flux_canny._operations import CANNY

from ..conftest import ROOT

OURS = json.loads((ROOT / "openapi.json").read_text())
NEWEST = ROOT / "tests" / "data" / "bfl-openapi" / "08-2026-04-23.json"


@pytest.fixture
def changed(tmp_path):
    """Our spec with FLUX.2's shared width minimum raised, Fill's steps capped lower and
    flux-2-pro's operation removed, as a file."""
    new = copy.deepcopy(OURS)
    schemas = new["components"]["schemas"]
    schemas["Flux2Inputs"]["properties"]["width"]["anyOf"][0]["minimum"] = 128.0
    schemas["FluxProFillInputs"]["properties"]["steps"]["anyOf"][0]["maximum"] = 40.0
    del new["paths"]["/v1/flux-2-pro"]
    path = tmp_path / "new.json"
    path.write_text(json.dumps(new))
    return path


def test_the_newest_bfl_document_loses_this_client_the_canny_finetune(run):
    ran = run(["spec-diff", str(ROOT / "openapi.json"), str(NEWEST)])
    assert ran.code == 1
    head, line, total = ran.out.splitlines()
    assert head == f"{CANNY}: 1 change(s), 1 breaking"
    assert f"this client would lose its endpoint {CANNY}" in line
    assert total.endswith(f"; this client would lose {CANNY}")
    document = json.loads(run(["spec-diff", str(ROOT / "openapi.json"), str(NEWEST), "--json"]).out)
    assert document["client_loses"] == [CANNY]
    assert list(document["operations"]) == [f"POST /v1/{CANNY}"]


def test_changes_are_shown_per_operation_a_shared_one_once(run, changed):
    ran = run(["spec-diff", str(ROOT / "openapi.json"), str(changed)])
    assert ran.code == 1
    paragraphs = {}
    for line in ran.out.splitlines():
        if not line.startswith(" "):
            heading = line
            paragraphs[heading] = []
        else:
            paragraphs[heading].append(line)
    # FLUX.2 [max] and [pro] Preview share the schema: one paragraph names both
    shared = next(h for h in paragraphs if h.startswith("flux-2-max, flux-2-pro-preview:"))
    assert any("width" in line for line in paragraphs[shared])
    fill = next(h for h in paragraphs if h.startswith("flux-pro-1.0-fill:"))
    assert len(paragraphs[fill]) == 1 and "steps" in paragraphs[fill][0]
    gone = next(h for h in paragraphs if h.startswith("flux-2-pro:"))
    assert "this client would lose its endpoint flux-2-pro" in paragraphs[gone][0]
    assert ran.out.splitlines()[-1].endswith("; this client would lose flux-2-pro")


def test_the_json_lists_each_operations_changes(run, changed):
    ran = run(["spec-diff", str(ROOT / "openapi.json"), str(changed), "--json"])
    document = json.loads(ran.out)
    assert ran.code == 1 and document["client_loses"] == ["flux-2-pro"]
    operations = document["operations"]
    for op in ("POST /v1/flux-2-max", "POST /v1/flux-2-pro-preview"):
        assert [c["where"] for c in operations[op]] == ["request body: width"]
    assert [c["kind"] for c in operations["POST /v1/flux-2-pro"]] == ["operation-removed"]
    assert len(document["changes"]) == 3  # the library's list, each change once
