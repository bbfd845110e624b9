"""`make spec`: openapi.json = BFL's newest published document + the seed's overlay.

BFL no longer publishes the seed's operation (POST /v1/flux-pro-1.0-canny-finetuned), so
openapi.json is built, never edited: spec/upstream/bfl-openapi.json is BFL's document as
published, and spec/overlay.yaml (OpenAPI Overlay 1.0) adds the seed's operation and the
schemas it needs. oas-patch validates the overlay against the Overlay 1.0 schema and
applies it. Two rules of this project are checked around it, because the Overlay
specification leaves both silent: every action's target must exist upstream (an overlay
that no longer lands is an error, not a no-op), and an update may only add keys (BFL's
document wins wherever it speaks; should BFL publish the seed's operation again, the build
stops and says so instead of merging two versions of it).

The result must be a valid OpenAPI document (`validate_openapi`, also sync-spec's check).
The output is deterministic: upstream's key order with the overlay's additions after it,
two-space JSON, a trailing newline.

    python tools/build_spec.py            # writes openapi.json
    python tools/build_spec.py --check    # exit 1 with the diff when openapi.json differs
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml
from jsonpath_ng.ext import parse as jsonpath  # oas-patch's own JSONPath engine
from jsonschema import Draft202012Validator
from oas_patch import apply_overlay
from oas_patch.validator import load_schema
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation import keywords

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT / "spec" / "upstream" / "bfl-openapi.json"
OVERLAY = ROOT / "spec" / "overlay.yaml"
OUTPUT = ROOT / "openapi.json"


class OverlayError(ValueError):
    """The overlay is not valid Overlay 1.0, or does not apply to this upstream document."""


class _DefaultIsAnAnnotation(keywords.OpenAPIV31ValueValidator):
    """Checks nothing: see `validate_openapi`."""

    def __call__(self, schema: Any, value: Any) -> Any:
        return iter(())


class _OpenAPI31(OpenAPIV31SpecValidator):
    keyword_validators: ClassVar[dict[str, type[keywords.KeywordValidator]]] = {
        **OpenAPIV31SpecValidator.keyword_validators,
        "default": _DefaultIsAnAnnotation,
    }


def validate_openapi(document: Mapping[str, Any]) -> None:
    """Raise when the document is not valid OpenAPI; a 3.1 schema's `default` is not checked.

    In OpenAPI 3.1 (JSON Schema 2020-12) `default` is an annotation that SHOULD, not MUST,
    validate against its schema, and BFL's own document breaks it: width/height of the
    Flux2 inputs default to 0 under minimum 64 (the server reads 0 as "not given").
    openapi-spec-validator checks defaults as if they were a rule, so for 3.1 it runs
    without that one check; every other rule of the specification still applies.
    """
    openapi = str(document.get("openapi", ""))
    validate(dict(document), cls=_OpenAPI31 if openapi.startswith("3.1") else None)


def load_overlay(path: Path = OVERLAY) -> dict[str, Any]:
    overlay = yaml.safe_load(path.read_text(encoding="utf-8"))
    problems = [
        f"{'/'.join(map(str, error.path)) or '(root)'}: {error.message}"
        for error in Draft202012Validator(load_schema("overlay_schema_1.0.0.yml")).iter_errors(
            overlay
        )
    ]
    if problems:
        raise OverlayError(f"{path.name} is not an Overlay 1.0 document: " + "; ".join(problems))
    return dict(overlay)


def _check_adds_only(upstream: Mapping[str, Any], overlay: Mapping[str, Any]) -> None:
    for action in overlay.get("actions", ()):
        target = action["target"]
        matches = jsonpath(target).find(upstream)
        if not matches:
            raise OverlayError(f"the overlay's target {target} is not in the upstream document")
        update = action.get("update")
        if not isinstance(update, Mapping):
            continue
        for match in matches:
            if not isinstance(match.value, Mapping):
                continue
            taken = sorted(set(update) & set(match.value))
            if taken:
                raise OverlayError(
                    f"the upstream document now has {', '.join(taken)} at {target}, which the "
                    "overlay adds: BFL publishes it again; compare the two and drop it from "
                    "spec/overlay.yaml"
                )


def build(upstream: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """The upstream document with the overlay applied (neither argument is changed)."""
    _check_adds_only(upstream, overlay)
    document: dict[str, Any] = apply_overlay(copy.deepcopy(dict(upstream)), copy.deepcopy(overlay))
    validate_openapi(document)
    return document


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def built_text(upstream: Path = UPSTREAM, overlay: Path = OVERLAY) -> str:
    return render(build(json.loads(upstream.read_text(encoding="utf-8")), load_overlay(overlay)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make spec", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--upstream", type=Path, default=UPSTREAM)
    parser.add_argument("--overlay", type=Path, default=OVERLAY)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    try:
        text = built_text(args.upstream, args.overlay)
    except (OverlayError, OSError, ValueError) as error:
        sys.stderr.write(f"make spec: {error}\n")
        return 2
    if not args.check:
        args.output.write_text(text, encoding="utf-8")
        return 0
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
    if current == text:
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            f"{args.output.name} (as it is)",
            f"{args.output.name} (upstream + overlay)",
        )
    )
    sys.stderr.write(
        f"{args.output.name} is not spec/upstream + spec/overlay.yaml: run 'make spec' "
        "(openapi.json is built, never edited by hand)\n"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
