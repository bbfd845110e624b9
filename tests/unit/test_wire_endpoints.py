"""Several image fields in one body (FLUX.2 takes eight): each base64 image spliced into
its own slot, none copied, the rest byte-identical to the generated endpoint's JSON."""

from __future__ import annotations

import base64
import json

import pytest
from flux_canny._generated import submit_endpoint
from flux_canny._operations import operations
from flux_canny._wire import JOIN_BELOW, BodyParts, submit_body

MULTI = [op for op in operations().values() if len(op.image_fields) > 1]


def _generated_bytes(op, fields):
    endpoint, model = submit_endpoint(op.module_name, op.schema_name)
    request = endpoint.request(body=model.from_dict(fields))
    return json.dumps(
        request["json"], ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode()


@pytest.mark.parametrize("op", MULTI, ids=[op.name for op in MULTI])
def test_every_image_goes_to_its_own_slot_and_the_rest_is_the_generated_json(op):
    images = {name: base64.b64encode(name.encode() * 3) for name in op.image_fields}
    fields = {"prompt": 'a "castle" flux-canny-image-'} if "prompt" in op.field_names else {}
    if "finetune_id" in op.required:
        fields["finetune_id"] = "ft"
    body = submit_body(fields, images, op)
    decoded = {name: value.decode() for name, value in images.items()}
    assert body.to_bytes() == _generated_bytes(op, {**fields, **decoded})
    assert body.request["url"] == op.path and body.operation == op.name
    assert body.summary["operation"] == op.name


def test_large_images_are_sent_in_parts_each_image_itself_not_a_copy():
    op = operations()["flux-2-pro"]
    big = [base64.b64encode(bytes([i]) * JOIN_BELOW) for i in range(3)]
    images = dict(zip(("input_image", "input_image_3", "input_image_8"), big, strict=True))
    body = submit_body({"prompt": "p"}, images, op)
    assert isinstance(body.content, BodyParts)
    assert [part for part in body.content.parts if len(part) >= JOIN_BELOW] == big
    assert all(any(part is image for part in body.content.parts) for image in big)  # no copy
    assert body.request["headers"]["Content-Length"] == str(body.size)
    sent = json.loads(body.to_bytes())
    assert {name: sent[name] for name in images} == {k: v.decode() for k, v in images.items()}
