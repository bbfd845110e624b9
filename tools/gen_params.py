"""Write wrapper/flux_canny/_params.py: every endpoint's request fields, typed.

One TypedDict per request schema, and overloads of submit/generate/prepare on the
endpoint's Literal name (one overload per schema, its endpoints' names together), so
`generate(endpoint="flux-2-pro", stepz=30)`, `steps="30"` or a field of another
endpoint fails mypy in users' code. `make generate` runs it after the generator, and
`make check-generated` fails when the file differs from what openapi.json gives (the
text is passed through `ruff format`, so the check compares like with like).

    python tools/gen_params.py [openapi.json] [--check]
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "wrapper" / "flux_canny" / "_params.py"

# the project's own reading of a spec ($ref resolution included), from the installed package
from flux_canny._operations import CANNY, read_operations  # noqa: E402
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


_HEADER = [
    '"""The request fields, typed per endpoint: generated from openapi.json by',
    "tools/gen_params.py (`make generate`); do not edit.",
    "",
    "One TypedDict per request schema, and `@overload`s of submit/generate/prepare on the",
    "endpoint's `Literal` name, so a type checker refuses a misspelt field and a field of",
    "another endpoint. The bounds are checked at run time by the validator, from the same",
    "spec. `GenerationParams` is the seed's optional fields, as before.",
    '"""',
    "",
    "from __future__ import annotations",
    "",
    "from collections.abc import Callable, Coroutine",
    "from typing import TYPE_CHECKING, Any, Literal, Required, TypedDict, Unpack, overload",
    "",
    "if TYPE_CHECKING:",
    "    from ._wire import SubmitBody",
    "    from .images import GeneratedImage",
    "    from .models import Result, Task",
    "",
]

#: the methods typed per endpoint: name, extra keywords, what the sync face returns
_METHODS = {
    "submit": ("", "Task"),
    "generate": (
        "timeout: float | None = None, on_update: Callable[[Result], None] | None = None, "
        "on_submit: Callable[[Task], None] | None = None, ",
        "GeneratedImage",
    ),
    "prepare": ("", "SubmitBody"),
}


def _fields(
    spec: Spec, schema: Mapping[str, Any], images: tuple[str, ...], skip: tuple[str, ...]
) -> list[str]:
    required = set(schema.get("required", ()))
    lines = []
    for name, prop in schema["properties"].items():
        if name in skip:
            continue
        kind = "Any" if name in images else _annotation(spec, prop)
        if name in required:
            kind = f"Required[{kind}]"
        note = "  # an image: path, bytes, file, PIL, numpy, base64" if name in images else ""
        lines.append(f"    {name}: {kind}{note or _comment(prop, spec)}")
    return lines


def _overloads(method: str, groups: dict[str, list[str]], asynchronous: bool) -> list[str]:
    extra, returns = _METHODS[method]
    if asynchronous and method != "prepare":
        returns = f"Coroutine[Any, Any, {returns}]"
    lines = []
    for schema_name, names in groups.items():
        literal = "Literal[" + ", ".join(json.dumps(n) for n in names) + "]"
        default = " = ..." if CANNY in names else ""
        lines += [
            "    @overload",
            f"    def {method}(",
            f"        self, *, endpoint: {literal}{default}, {extra}validate: bool | None = None,",
            f"        **fields: Unpack[{schema_name}Fields],",
            f"    ) -> {returns}: ...",
        ]
    lines += [
        f"    def {method}(",
        f"        self, *, endpoint: str = {json.dumps(CANNY)}, {extra}",
        "        validate: bool | None = None,",
        "        **fields: Any,",
        f"    ) -> {returns}:",
        "        raise NotImplementedError  # the face's own method runs",
        "",
    ]
    return lines


def render(spec: Spec) -> str:
    operations = read_operations(spec)
    groups: dict[str, list[str]] = {}
    for op in operations.values():
        groups.setdefault(op.schema_name, []).append(op.name)
    classes = ["PrepareCalls", "SyncCalls", "AsyncCalls"]
    typed = [f"{name}Fields" for name in groups]
    lines = [
        *_HEADER,
        "__all__ = " + json.dumps(sorted(["Endpoint", "GenerationParams", *classes, *typed])),
        "",
        "#: every endpoint's name (the last segment of its path)",
        "Endpoint = Literal[" + ", ".join(json.dumps(n) for n in operations) + "]",
        "",
        "",
        "class GenerationParams(TypedDict, total=False):",
        f'    """The fields of {spec.request_schema_name()} besides {", ".join(EXPLICIT)}."""',
        "",
        *_fields(spec, spec.request_schema(), (), EXPLICIT),
    ]
    for schema_name, names in groups.items():
        op = operations[names[0]]
        schema = spec.request_schema(op.path, op.method)
        lines += [
            "",
            "",
            f"class {schema_name}Fields(TypedDict, total=False):",
            f'    """The request of {", ".join(names)}."""',
            "",
            *_fields(spec, schema, op.image_fields, ()),
        ]
    for cls, methods, asynchronous, doc in (
        ("PrepareCalls", ("prepare",), False, "prepare(), typed per endpoint"),
        ("SyncCalls", ("submit", "generate"), False, "FluxCanny's calls, typed per endpoint"),
        ("AsyncCalls", ("submit", "generate"), True, "AsyncFluxCanny's, typed per endpoint"),
    ):
        lines += ["", "", f"class {cls}:", f'    """{doc}."""', ""]
        for method in methods:
            lines += _overloads(method, groups, asynchronous)
        lines.pop()
    return _formatted("\n".join(lines) + "\n")


def _formatted(text: str) -> str:
    """The text as `ruff format` leaves it, so the check compares like with like."""
    ran = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(TARGET), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return ran.stdout


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
