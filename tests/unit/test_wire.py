"""The submit body on the wire: byte for byte what the generated call would send.

The image is spliced into the generated model's JSON rather than serialised with it (see
flux_canny._wire); these tests hold the splice to the generated code's own output, and
send large bodies (kept in parts) through real sockets, with a retry replaying them.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json

import httpx
import numpy as np
import pytest
from flux_canny import AsyncFluxCanny, FluxCanny
from flux_canny._spec import CANNY_PATH, packaged_spec
from flux_canny._wire import JOIN_BELOW, BodyParts, submit_body
from flux_canny.fake import FakeBFL, FakeServer, FakeTransport, VirtualClock
from flux_canny_api.models import FinetuneCannyInputs
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tests.conftest import KEY

FIELDS = packaged_spec().request_schema(CANNY_PATH, "post")["properties"]
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)


def generated_bytes(fields: dict, image: bytes) -> bytes:
    """What the generated endpoint sends: httpx's `json=` encoding of the model's dict."""
    model = FinetuneCannyInputs.from_dict({**fields, "control_image": image.decode()})
    return httpx.Request("POST", "https://x", json=model.to_dict()).content


@given(
    prompt=TEXT,
    finetune_id=TEXT,
    extra=st.fixed_dictionaries(
        {},
        optional={
            "seed": st.integers(-(2**63), 2**63),
            "guidance": st.floats(allow_nan=False, allow_infinity=False),
            "prompt_upsampling": st.booleans(),
            "output_format": st.sampled_from(["jpeg", "png"]),
            "webhook_url": st.none() | TEXT,
            # text that looks like the marker the splice uses must not confuse it
            "webhook_secret": st.just('flux-canny-image-"\\u0000"') | TEXT,
        },
    ),
    image=st.binary(max_size=64).map(base64.b64encode),
)
def test_spliced_body_is_byte_identical_to_the_generated_call(prompt, finetune_id, extra, image):
    fields = {"prompt": prompt, "finetune_id": finetune_id, **extra}
    assert set(fields) <= set(FIELDS)
    body = submit_body(fields, image)
    assert body.to_bytes() == generated_bytes(fields, image)
    assert body.request["method"].upper() == "POST" and body.request["url"] == CANNY_PATH
    assert json.loads(body.to_bytes())["control_image"] == image.decode()


def test_large_bodies_are_kept_in_parts_with_their_length():
    image = base64.b64encode(bytes(JOIN_BELOW))
    body = submit_body({"prompt": "p", "finetune_id": "f"}, image)
    assert isinstance(body.content, BodyParts) and body.content.parts[1] is image  # no copy
    assert body.request["headers"]["Content-Length"] == str(body.size)
    assert body.to_bytes() == generated_bytes({"prompt": "p", "finetune_id": "f"}, image)
    # a second iteration replays the whole body (what a retry sends)
    assert b"".join(body.content) == b"".join(body.content) == body.to_bytes()


@pytest.fixture(scope="module")
def big_png() -> bytes:
    """Incompressible pixels: over JOIN_BELOW once in base64, so it is sent in parts."""
    pixels = np.random.default_rng(7).integers(0, 256, (620, 620, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    assert len(buffer.getvalue()) * 4 // 3 > JOIN_BELOW
    return buffer.getvalue()


def test_both_faces_send_a_large_image_whole_over_a_socket_and_replay_it_after_a_429(big_png):
    async def submit_async(base_url: str) -> str:
        async with AsyncFluxCanny(api_key="test-key", base_url=base_url) as flux:
            task = await flux.submit(control_image=big_png, prompt="p", finetune_id="my-finetune")
            return task.id

    def submit_sync(base_url: str) -> str:
        with FluxCanny(api_key="test-key", base_url=base_url) as flux:
            return flux.submit(control_image=big_png, prompt="p", finetune_id="my-finetune").id

    for submit in (submit_sync, lambda url: asyncio.run(submit_async(url))):
        with FakeServer(FakeBFL()) as server:
            server.fake.fail_next(1, 429, path=CANNY_PATH, retry_after=0)
            task_id = submit(server.base_url)
            fake = server.fake
            assert fake.requests[("POST", CANNY_PATH)] == 2  # refused once, then sent again
            assert sum(fake.tasks_created.values()) == 1
            assert base64.b64decode(fake.tasks[task_id].body["control_image"]) == big_png


def test_the_in_process_transport_reads_parts_on_both_faces(big_png):
    fake = FakeBFL(api_keys=[KEY], clock=VirtualClock())
    with FluxCanny(api_key=KEY, transport=FakeTransport(fake)) as flux:
        sync_id = flux.submit(control_image=big_png, prompt="p", finetune_id="my-finetune").id

    async def submit() -> str:
        async with AsyncFluxCanny(api_key=KEY, transport=FakeTransport(fake)) as flux:
            task = await flux.submit(control_image=big_png, prompt="p", finetune_id="my-finetune")
            return task.id

    async_id = asyncio.run(submit())
    for task_id in (sync_id, async_id):
        assert base64.b64decode(fake.tasks[task_id].body["control_image"]) == big_png
