"""Request bodies for every operation, built from the spec (nothing listed per endpoint)."""

from __future__ import annotations

import base64
from typing import Any

from flux_canny._operations import Operation, operations
from flux_canny._spec import packaged_spec

from tests.conftest import make_image

OPERATIONS = list(operations().values())
NAMES = [op.name for op in OPERATIONS]
SPEC = packaged_spec()
KEY = {"x-key": "test-key"}
#: the formats each operation may answer in, from its output_format enum
FORMATS = {
    op.name: SPEC.resolve(
        next(
            branch
            for branch in SPEC.request_schema(op.path)["properties"]["output_format"].get(
                "anyOf", [SPEC.request_schema(op.path)["properties"]["output_format"]]
            )
            if branch.get("type") != "null"
        )
    )["enum"]
    for op in OPERATIONS
}
#: every (operation, format) pair the spec allows
PAIRS = [(op, fmt) for op in OPERATIONS for fmt in FORMATS[op.name]]
IN_FLIGHT = ("Pending", "Reasoning", "Generating")
PIL_NAMES = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


def properties_of(op: Operation) -> dict[str, Any]:
    return dict(SPEC.request_schema(op.path)["properties"])


def valid_body(op: Operation, fmt: str | None = None) -> dict[str, Any]:
    """The required fields (built from the spec, not listed per operation), every image
    field as base64 of a small PNG, and the format asked for."""
    image = base64.b64encode(make_image("PNG", (96, 64))).decode()
    body: dict[str, Any] = {}
    for name in sorted(op.required):
        if name in op.image_fields:
            body[name] = image
        elif name == "finetune_id":
            body[name] = "my-finetune"
        else:
            body[name] = "a red cube on a table"
    if op.image_fields:
        body[op.image_fields[0]] = image
    if fmt is not None:
        body["output_format"] = fmt
    return body
