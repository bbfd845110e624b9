"""Write wrapper/flux_canny/_params.py: the request's optional fields as a TypedDict.

`make generate` runs it after the generator, and `make check-generated` fails when the
file differs from what openapi.json gives, so `generate(..., stepz=30)` or
`steps="30"` fails mypy in users' code and the types never drift from the spec.

    python tools/gen_params.py [openapi.json] [--check]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "wrapper" / "flux_canny" / "_params.py"

# the project's own reading of a spec ($ref resolution included), from the installed package
from flux_canny._spec import Spec  # noqa: E402

#: passed as named parameters of their own (the image goes through encode_control_image)
EXPLICIT = ("control_image", "prompt", "finetune_id")
_SCALARS = {"integer": "int", "number": "float", "string": "str", "boolean": "bool"}


def _annotation(spec: Spec, schema: Mapping[str, Any]) -> str:
    schema = spec.resolve(schema)
    if "anyOf" in schema:
        parts = [_annotation(spec, branch) for branch in schema["anyOf"]]
        return " | ".join(dict.fromkeys(parts))
    if "enum" in schema:
        return "Literal[" + ", ".join(json.dumps(v) for v in schema["enum"]) + "]"
    kind = schema.get("type")
    if kind == "null":
        return "None"
    if kind == "array":
        return f"list[{_annotation(spec, schema.get('items', {}))}]"
    return _SCALARS.get(str(kind), "Any")


def _comment(schema: Mapping[str, Any], spec: Spec) -> str:
    """The bounds and default, as the spec states them (documentation only)."""
    flat = dict(spec.resolve(schema))
    for branch in flat.get("anyOf", ()):
        flat.update({k: v for k, v in spec.resolve(branch).items() if k != "type"})
    said = [
        f"{word} {flat[key]:g}"
        for key, word in (("minimum", ">="), ("maximum", "<="))
        if key in flat
    ]
    if "maxLength" in flat:
        said.append(f"at most {flat['maxLength']} characters")
    if "default" in schema:
        said.append(f"default {json.dumps(schema['default'])}")
    return f"  # {', '.join(said)}" if said else ""


def render(spec: Spec) -> str:
    schema = spec.request_schema()
    required = set(schema.get("required", ()))
    lines = [
        '"""The request\'s optional fields, typed: generated from openapi.json by',
        "tools/gen_params.py (`make generate`); do not edit.",
        "",
        "The types reach users' type checkers (`**params: Unpack[GenerationParams]`); the",
        "bounds are checked at run time by the validator, from the same spec.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import TypedDict",
        "",
        '__all__ = ["GenerationParams"]',
        "",
        "",
        "class GenerationParams(TypedDict, total=False):",
        f'    """The fields of {spec.request_schema_name()} besides {", ".join(EXPLICIT)}."""',
        "",
    ]
    for name, prop in schema["properties"].items():
        if name in EXPLICIT:
            continue
        kind = _annotation(spec, prop)
        if name in required:
            kind = f"Required[{kind}]"
        lines.append(f"    {name}: {kind}{_comment(prop, spec)}")
    body = "\n".join(lines[lines.index("from typing import TypedDict") + 1 :])
    used = [
        name for name in ("Any", "Literal", "Required") if f"{name}[" in body or f" {name}" in body
    ]
    imports = ", ".join([*used, "TypedDict"])
    lines[lines.index("from typing import TypedDict")] = f"from typing import {imports}"
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    spec = Spec.from_path(paths[0] if paths else ROOT / "openapi.json")
    text = render(spec)
    if check:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{TARGET.relative_to(ROOT)} is out of date with openapi.json\n")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
