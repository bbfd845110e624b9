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
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from flux_canny import AsyncFluxCanny, FluxCanny, GeneratedImage, PollPolicy, Task
from flux_canny._operations import Operation, operations
from flux_canny.fake import FakeBFL, VirtualClock
from PIL import Image

from tests.conftest import make_image

OPERATIONS = list(operations().values())
NAMES = [op.name for op in OPERATIONS]
#: the kinds of image a field may be given as, taken in turn across fields and endpoints
KINDS = ("path", "bytes", "file", "pil", "numpy", "base64", "data-uri")
SCRIPT = Path(sys.executable).parent / "flux-canny"


def _given(op: Operation, tmp_path: Path) -> dict[str, tuple[str, Any, bytes]]:
    """Per image field: its kind, the value passed, and the PNG it stands for (each field
    a different size, so that a swapped slot shows)."""
    start = NAMES.index(op.name)
    out: dict[str, tuple[str, Any, bytes]] = {}
    for i, name in enumerate(op.image_fields):
        png = make_image(size=(64 + 2 * i, 48 + i))
        kind = KINDS[(start + i) % len(KINDS)]
        pixels = Image.open(io.BytesIO(png)).convert("RGB")
        value: Any = {
            "bytes": png,
            "file": io.BytesIO(png),
            "pil": pixels,
            "numpy": np.asarray(pixels),
            "base64": base64.b64encode(png).decode(),
            "data-uri": "data:image/png;base64," + base64.b64encode(png).decode(),
        }.get(kind)
        if kind == "path":
            value = tmp_path / f"{name}.png"
            value.write_bytes(png)
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
    proc = subprocess.Popen(
        [str(SCRIPT), "mock-server", "--task-duration", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


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
