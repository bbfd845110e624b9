"""generate(endpoint=…) of every operation of the spec, on both faces, against the
in-process fake and against `flux-canny mock-server` (a real server process on loopback):
each image field given as an image of another kind (path, bytes, file, PIL, numpy, base64,
data URI) reaches the server as the base64 of that image, and an image comes back.

The operations, their image fields and required fields are read from the spec: nothing is
listed per endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from flux_canny import (
    AsyncFluxCanny,
    FluxCanny,
    GeneratedImage,
    ImageInputError,
    PollPolicy,
    Task,
    encode_control_image,
)
from flux_canny._image_formats import image_label
from flux_canny._operations import Operation, operations
from flux_canny.fake import FakeBFL, VirtualClock
from PIL import Image

from tests._mock_server import mock_server_process
from tests.conftest import make_image

OPERATIONS = list(operations().values())
NAMES = [op.name for op in OPERATIONS]
#: the kinds of image a field may be given as, taken in turn across fields and endpoints
KINDS = ("path", "bytes", "file", "pil", "numpy", "base64", "data-uri")


def _given(op: Operation, tmp_path: Path) -> dict[str, tuple[str, Any, bytes]]:
    """Per image field: its kind, the value passed, and the PNG it stands for (each field
    a different size, so that a swapped slot shows)."""
    start = NAMES.index(op.name)
    out: dict[str, tuple[str, Any, bytes]] = {}
    for i, name in enumerate(op.image_fields):
        kind = KINDS[(start + i) % len(KINDS)]
        value, png = _value(kind, make_image(size=(64 + 2 * i, 48 + i)), tmp_path / f"{name}.png")
        out[name] = (kind, value, png)
    return out


def _fields(op: Operation, given: dict[str, tuple[str, Any, bytes]]) -> dict[str, Any]:
    fields: dict[str, Any] = {name: value for name, (_, value, _) in given.items()}
    if "prompt" in op.field_names:
        fields["prompt"] = "a red cube on a table"
    if "finetune_id" in op.field_names:
        fields["finetune_id"] = "my-finetune"  # the one the fake knows
    return fields


def _check_sent(sent: dict[str, Any], given: dict[str, tuple[str, Any, bytes]]) -> None:
    """Each image field carries the base64 of its image: the very bytes for what was
    already an image file, the same pixels for a PIL image or an array (encoded as PNG)."""
    assert set(given) <= set(sent)
    for name, (kind, _, png) in given.items():
        data = base64.b64decode(sent[name], validate=True)
        if kind in ("pil", "numpy"):
            got = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            want = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
            assert np.array_equal(got, want), (name, kind)
        else:
            assert data == png, (name, kind)


def _generate(face: str, op: Operation, fields: dict[str, Any], **options: Any) -> GeneratedImage:
    if face == "sync":
        with FluxCanny(**options) as flux:
            return flux.generate(endpoint=op.name, **fields)

    async def run() -> GeneratedImage:
        async with AsyncFluxCanny(**options) as flux:
            return await flux.generate(endpoint=op.name, **fields)

    return asyncio.run(run())


def _is_image(image: GeneratedImage) -> None:
    Image.open(io.BytesIO(image.data)).load()
    assert image.task_id


@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_generate_every_endpoint_against_the_in_process_fake(face, op, tmp_path):
    fake = FakeBFL(clock=VirtualClock(), task_duration=1.0)
    given = _given(op, tmp_path)
    received: dict[str, dict[str, Any]] = {}

    def keep(task: Task) -> None:
        # the fake's record of the body, read before the download (where the fake lets go
        # of the image inputs it has drawn from)
        received[task.id] = dict(fake.tasks[task.id].body)

    options = {"api_key": fake.api_key, "transport": fake.transport(), "clock": fake.clock}
    fields = {**_fields(op, given), "on_submit": keep}
    image = _generate(face, op, fields, ledger=False, **options)
    _is_image(image)
    assert fake.tasks[image.task_id].operation == op.name
    assert fake.tasks_created[fake.api_key] == 1 and list(received) == [image.task_id]
    _check_sent(received[image.task_id], given)


class _Recording(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Loopback HTTP as it is, each request body kept: what reached the server process."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self._sync = httpx.HTTPTransport()
        self._async = httpx.AsyncHTTPTransport()

    def _keep(self, request: httpx.Request) -> None:
        if request.method == "POST":
            self.sent.append((request.url.path, json.loads(request.read())))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._keep(request)
        return self._sync.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._keep(request)
        return await self._async.handle_async_request(request)


@pytest.fixture(scope="module")
def mock_server() -> Iterator[str]:
    """One `flux-canny mock-server` for the module, every endpoint's task short."""
    with mock_server_process("--task-duration", "0.05") as (base, _):
        yield base


@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_generate_every_endpoint_against_the_mock_server(face, op, tmp_path, mock_server):
    given = _given(op, tmp_path)
    wire = _Recording()
    # polled every 50 ms: the task takes as long, and the default plan's first poll at
    # 0.7 s would be most of the module's time
    options = {"api_key": "test-key", "base_url": mock_server, "transport": wire}
    options["poll"] = PollPolicy.fixed(0.05)
    _is_image(_generate(face, op, _fields(op, given), ledger=False, **options))
    [(path, sent)] = wire.sent
    assert path == op.path
    _check_sent(sent, given)


@pytest.mark.parametrize("op", OPERATIONS, ids=NAMES)
def test_every_image_field_takes_every_kind_of_image_control_image_takes(face, op, tmp_path):
    """Each image field of the endpoint, given each kind in turn, is the base64 of that
    image in the prepared body (the others fields left at what the endpoint requires)."""
    flux = face(ledger=False)
    for kind in KINDS:
        given = {
            name: (kind, *_value(kind, png, tmp_path / f"{name}.png"))
            for name, (_, _, png) in _given(op, tmp_path).items()
        }
        body = flux.prepare(endpoint=op.name, **_fields(op, given))
        assert body.operation == op.name
        _check_sent(json.loads(body.to_bytes()), given)


def _value(kind: str, png: bytes, path: Path) -> tuple[Any, bytes]:
    """`png` given as `kind`, and the PNG it stands for."""
    pixels = Image.open(io.BytesIO(png)).convert("RGB")
    if kind == "path":
        path.write_bytes(png)
        return path, png
    return {
        "bytes": png,
        "file": io.BytesIO(png),
        "pil": pixels,
        "numpy": np.asarray(pixels),
        "base64": base64.b64encode(png).decode(),
        "data-uri": "data:image/png;base64," + base64.b64encode(png).decode(),
    }[kind], png


IMAGE_FIELDS = sorted({(op.name, name) for op in OPERATIONS for name in op.image_fields})
#: what is wrong with an image given, and what the message says of it
BROKEN = [
    (b"no image", "is not a PNG, JPEG or WebP image"),
    (b"", "is empty (0 bytes)"),
    (make_image()[:40], "is a truncated or corrupt PNG file"),
    (Path("/no/such/edges.png"), "file not found"),
    ("data:image/png,edges", "data URI must be base64"),
    ("@@@ not base64 @@@", "string is neither an existing file path nor valid base64"),
    (np.zeros((4, 4), dtype=np.float32), "must be uint8"),
    (object(), "unsupported"),
]


@pytest.mark.parametrize(("value", "said"), BROKEN, ids=[said for _, said in BROKEN])
def test_an_image_fields_error_names_that_field_never_the_control_image(value, said):
    """encode_control_image(…, field=) as every endpoint's image fields are read: the
    control image keeps its wording, every other field is named in its stead."""
    for _, field in IMAGE_FIELDS:
        with pytest.raises(ImageInputError) as caught:
            encode_control_image(value, field=field)
        message = str(caught.value)
        assert said in message and image_label(field) in message, message
        assert ("control image" in message) == (field == "control_image"), message


def test_a_broken_image_in_any_field_is_refused_naming_that_field(face):
    flux = face(ledger=False)
    for endpoint, field in IMAGE_FIELDS:
        op = operations()[endpoint]
        fields = _fields(op, {})
        for name in op.required & set(op.image_fields):
            fields[name] = make_image()
        with pytest.raises(ImageInputError) as caught:
            flux.prepare(endpoint=endpoint, **{**fields, field: b"no image"})
        message = str(caught.value)
        assert image_label(field) in message and "not a PNG, JPEG or WebP" in message, message
        assert ("control image" in message) == (field == "control_image"), message


@pytest.mark.parametrize(
    ("endpoint", "field"), IMAGE_FIELDS, ids=[f"{e}-{f}" for e, f in IMAGE_FIELDS]
)
def test_a_web_address_where_the_spec_takes_none_is_refused_as_such(face, endpoint, field):
    """Not "file not found: https:/host/…" (a URL read as a path): an address is passed on
    only as https, and only to a field whose spec takes one; never fetched."""
    op = operations()[endpoint]
    url = "https://images.example/edges.png"
    fields = _fields(op, {})
    for name in op.required & set(op.image_fields):
        fields[name] = make_image()
    for address in ("http://images.example/edges.png", *([url] * (field not in op.url_fields))):
        with pytest.raises(ImageInputError, match="is a web address") as caught:
            face(ledger=False).prepare(endpoint=endpoint, **{**fields, field: address})
        message = str(caught.value)
        assert field in message or image_label(field) in message
        assert "not found" not in message
    if field in op.url_fields:
        body = face(ledger=False).prepare(endpoint=endpoint, **{**fields, field: url})
        assert json.loads(body.to_bytes())[field] == url
