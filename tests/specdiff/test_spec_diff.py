"""The spec diff on BFL's real published history, and on one mutation of our spec per class."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from flux_canny.cli import main
from flux_canny.specdiff import diff_specs, load_document

ROOT = Path(__file__).resolve().parents[2]
HISTORY = sorted((ROOT / "tests/data/bfl-openapi").glob("*.json"))
OURS = json.loads((ROOT / "openapi.json").read_text())
CANNY = "POST /v1/flux-pro-1.0-canny-finetuned"
GET_RESULT = "GET /v1/get_result"


def _doc(index):
    return load_document(HISTORY[index])


def _summary(diff):
    """(breaking, kind, where, schema) for each change, as a set."""
    return {(c.breaking, c.kind, c.where, c.schema) for c in diff.changes}


def test_the_history_is_all_there():
    assert [p.name[:2] for p in HISTORY] == ["01", "02", "03", "04", "05", "06", "07", "08"]


def test_01_to_02_webp_joins_output_format_everywhere_it_is_used():
    diff = diff_specs(_doc(0), _doc(1))
    assert not diff.has_breaking
    (enum,) = [c for c in diff.changes if c.kind == "enum-value-added"]
    assert (enum.where, enum.schema, enum.detail) == (
        "request body: output_format",
        "OutputFormat",
        "enum adds 'webp'",
    )
    # reported at every operation whose request reaches OutputFormat through a $ref
    assert len(enum.operations) == 16 and "POST /v1/flux-pro-1.0-fill-finetuned" in enum.operations
    described = {c.schema for c in diff.changes if c.kind == "description-changed"}
    assert described == {
        "FluxDevInputs",
        "FluxKontextProInputs",
        "FluxProExpandInputs",
        "FluxProFillInputs",
        "FinetuneFluxProFillInputs",
        "FluxPro11Inputs",
        "FluxUltraInput",
        "FinetuneFluxUltraInput",
    }
    assert {c.kind for c in diff.changes} == {"enum-value-added", "description-changed"}


def test_02_to_03_the_security_scheme_becomes_the_x_key_header():
    diff = diff_specs(_doc(1), _doc(2))
    assert _summary(diff) == {
        (True, "security-changed", "operation", None),
        (False, "security-removed", "operation", None),
    }
    (changed,) = diff.breaking
    assert "http bearer" in changed.detail and "apiKey header x-key" in changed.detail
    assert "GET /v1/my_finetunes" in changed.operations


def test_03_to_04_finetune_id_descriptions():
    diff = diff_specs(_doc(2), _doc(3))
    assert _summary(diff) == {
        (False, "description-changed", "request body: finetune_id", schema)
        for schema in (
            "DeleteFinetuneInputs",
            "FinetuneFluxProFillInputs",
            "FinetuneFluxUltraInput",
        )
    }
    assert all("LoRA" in c.detail for c in diff.changes)


def test_04_to_05_only_operation_texts_change():
    diff = diff_specs(_doc(3), _doc(4))
    assert {(c.breaking, c.kind, c.where) for c in diff.changes} == {
        (False, "description-changed", "operation")
    }
    touched = {op for c in diff.changes for op in c.operations}
    assert len(touched) == 9 and "POST /v1/flux-kontext-pro" in touched


def test_05_to_06_disable_pup_and_transparent_bg_removed_break_requests():
    diff = diff_specs(_doc(4), _doc(5))
    assert _summary(diff) == {
        (True, "property-removed", "request body: disable_pup", "Flux2Inputs"),
        (True, "property-removed", "request body: transparent_bg", "Flux2Inputs"),
        (True, "property-removed", "request body: transparent_bg", "Flux2KleinInputs"),
    }


def test_06_to_07_to_08_outpainting_added_then_removed():
    added = diff_specs(_doc(5), _doc(6))
    assert [(c.breaking, c.kind, c.operations) for c in added.changes] == [
        (False, "operation-added", ("POST /v1/flux-2-flex-outpainting",))
    ]
    removed = diff_specs(_doc(6), _doc(7))
    assert [(c.breaking, c.kind, c.operations) for c in removed.changes] == [
        (True, "operation-removed", ("POST /v1/flux-2-flex-outpainting",))
    ]


def test_our_spec_against_the_newest_copy_reports_the_canny_endpoint_retired(capsys):
    diff = diff_specs(OURS, _doc(7))
    assert [(c.kind, c.operations) for c in diff.breaking] == [("operation-removed", (CANNY,))]
    # what we copied from the real document (get_result, finetunes) is unchanged
    shared = {op for c in diff.changes if c.kind != "operation-added" for op in c.operations}
    assert shared == {CANNY}
    code = main(["spec-diff", str(ROOT / "openapi.json"), str(HISTORY[-1]), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1 and document["breaking"] is True
    assert document["changes"][0]["kind"] == "operation-removed"
    assert document["changes"][0]["operations"] == [CANNY]


# -- one mutation of our own spec per class -------------------------------------------------------


def _schemas(spec):
    return spec["components"]["schemas"]


def _props(spec):
    return _schemas(spec)["FinetuneCannyInputs"]["properties"]


def _drop_path(spec):
    del spec["paths"]["/v1/finetune_details"]


def _add_path(spec):
    spec["paths"]["/v1/my_finetunes_too"] = {
        "get": copy.deepcopy(spec["paths"]["/v1/my_finetunes"]["get"])
    }


MUTATIONS = {
    "operation removed": (_drop_path, True, "operation-removed", "operation"),
    "request property removed": (
        lambda s: _props(s).pop("webhook_secret"),
        True,
        "property-removed",
        "request body: webhook_secret",
    ),
    "property newly required": (
        lambda s: _schemas(s)["FinetuneCannyInputs"]["required"].append("steps"),
        True,
        "property-required",
        "request body: steps",
    ),
    "range narrowed": (
        lambda s: _props(s)["steps"].update(maximum=40),
        True,
        "range-narrowed",
        "request body: steps",
    ),
    "enum value removed": (
        lambda s: _schemas(s)["FinetuneCannyOutputFormat"].update(enum=["jpeg"]),
        True,
        "enum-value-removed",
        "request body: output_format",
    ),
    "type changed": (
        lambda s: _props(s)["guidance"].update(type="string"),
        True,
        "type-changed",
        "request body: guidance",
    ),
    "null no longer allowed": (
        lambda s: _props(s)["seed"].update(anyOf=[{"type": "integer"}]),
        True,
        "null-disallowed",
        "request body: seed",
    ),
    "response property the client reads removed": (
        lambda s: _schemas(s)["AsyncResponse"]["properties"].pop("polling_url"),
        True,
        "response-property-removed",
        "response 200: polling_url",
    ),
    "security changed": (
        lambda s: s["components"]["securitySchemes"]["APIKeyHeader"].update(name="x-api-key"),
        True,
        "security-changed",
        "operation",
    ),
    "operation added": (_add_path, False, "operation-added", "operation"),
    "optional property added": (
        lambda s: _props(s).update(tiling={"type": "boolean", "default": False}),
        False,
        "property-added",
        "request body: tiling",
    ),
    "range widened": (
        lambda s: _props(s)["steps"].update(maximum=60),
        False,
        "range-widened",
        "request body: steps",
    ),
    "enum value added": (
        lambda s: _schemas(s)["FinetuneCannyOutputFormat"]["enum"].append("webp"),
        False,
        "enum-value-added",
        "request body: output_format",
    ),
    "description changed": (
        lambda s: _props(s)["prompt"].update(description="What to draw"),
        False,
        "description-changed",
        "request body: prompt",
    ),
    "default changed": (
        lambda s: _props(s)["steps"].update(default=28),
        False,
        "default-changed",
        "request body: steps",
    ),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_each_class_of_change_is_classified(name):
    mutate, breaking, kind, where = MUTATIONS[name]
    new = copy.deepcopy(OURS)
    mutate(new)
    diff = diff_specs(OURS, new)
    # a shared schema's change is listed once per group of operations it reaches alike
    # (AsyncResponse: BFL's 16 generation operations, and the seed's, whose client reads it)
    assert {(c.breaking, c.kind, c.where) for c in diff.changes} == {(breaking, kind, where)}
    assert diff.has_breaking is breaking


def test_a_response_enum_change_reaches_get_result_through_refs():
    new = copy.deepcopy(OURS)
    _schemas(new)["StatusResponse"]["enum"].append("Generating")
    (change,) = diff_specs(OURS, new).changes
    assert change.kind == "enum-value-added" and change.breaking  # generated enums raise on it
    assert change.operations == (GET_RESULT,) and change.schema == "StatusResponse"


def test_the_client_reads_result_sample_so_its_removal_breaks():
    old = copy.deepcopy(OURS)
    _schemas(old)["ResultResponse"]["properties"]["result"] = {
        "anyOf": [
            {
                "type": "object",
                "properties": {"sample": {"type": "string"}, "seed": {"type": "integer"}},
            },
            {"type": "null"},
        ]
    }
    new = copy.deepcopy(old)
    del _schemas(new)["ResultResponse"]["properties"]["result"]["anyOf"][0]["properties"]["sample"]
    (change,) = diff_specs(old, new).changes
    assert (change.kind, change.breaking, change.where) == (
        "response-property-removed",
        True,
        "response 200: result.sample",
    )


def test_the_client_reads_every_endpoints_polling_url_so_its_removal_breaks_each():
    """Every endpoint is submitted and polled as the seed's is: an optional polling_url
    dropped from the shared answer breaks all 17 operations, not only the seed's."""
    old = copy.deepcopy(OURS)
    _schemas(old)["AsyncResponse"]["required"].remove("polling_url")
    new = copy.deepcopy(old)
    del _schemas(new)["AsyncResponse"]["properties"]["polling_url"]
    (change,) = diff_specs(old, new).changes
    assert change.breaking and "(the client reads it)" in change.detail
    assert "POST /v1/flux-2-pro" in change.operations and CANNY in change.operations


def test_no_change_no_output_and_exit_0(capsys, tmp_path):
    assert diff_specs(OURS, copy.deepcopy(OURS)).changes == ()
    assert main(["spec-diff", str(ROOT / "openapi.json"), str(ROOT / "openapi.json")]) == 0
    assert "no changes" in capsys.readouterr().out


def test_the_human_table_marks_breaking_changes(capsys):
    assert main(["spec-diff", str(HISTORY[4]), str(HISTORY[5])]) == 1
    out = capsys.readouterr().out
    assert out.count("BREAKING") == 3 and "disable_pup" in out
    assert "3 change(s), 3 breaking" in out


def test_unreadable_documents_exit_2(capsys, tmp_path):
    (tmp_path / "bad.json").write_text("{")
    assert main(["spec-diff", str(tmp_path / "bad.json"), str(ROOT / "openapi.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "list.json").write_text("[]")
    assert main(["spec-diff", str(tmp_path / "list.json"), str(ROOT / "openapi.json")]) == 2


def test_spec_diff_reads_a_published_document_from_a_url_and_says_when_it_cannot(capsys):
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    folder = ROOT / "tests/data/bfl-openapi"
    quiet = type("Quiet", (SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/08-2026-04-23.json"
        code = main(["spec-diff", str(ROOT / "openapi.json"), url])
    finally:
        server.shutdown()
    assert code == 1 and "POST /v1/flux-pro-1.0-canny-finetuned removed" in capsys.readouterr().out
    offline = main(["spec-diff", str(ROOT / "openapi.json"), "https://127.0.0.1:9/openapi.json"])
    err = capsys.readouterr().err
    assert offline == 2 and "cannot fetch https://127.0.0.1:9/openapi.json" in err
    assert "offline" in err
