"""Bad local input is a typed error before any request, and never a hang."""

from __future__ import annotations

import io
import os
import struct
import zlib

import httpx
import pytest
import respx
from flux_canny import FluxCanny, ImageInputError, RequestValidationError
from flux_canny.images import MAX_CONTROL_BYTES

from tests.conftest import BASE, KEY, make_image

SUBMIT = f"{BASE}/v1/flux-pro-1.0-canny-finetuned"
ARGS = {"prompt": "a castle", "finetune_id": "ft-1"}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.fixture
def flux():
    with respx.mock(assert_all_called=False) as api, FluxCanny(api_key=KEY, ledger=False) as client:
        client.route = api.post(SUBMIT).respond(
            200, json={"id": "t1", "polling_url": f"{BASE}/v1/get_result?id=t1"}
        )
        yield client


def _fifo(tmp_path):
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    return path


def _huge(tmp_path):
    path = tmp_path / "huge.png"
    with open(path, "wb") as handle:
        handle.write(make_image())
        handle.truncate(MAX_CONTROL_BYTES + 1)  # sparse: costs no disk
    return path


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", b""), "corrupt PNG"),
        (lambda p: b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", b"\0\0\0\1"), "corrupt PNG"),
        (lambda p: b"\xff\xd8\xff\xc0\x00\x11\x08", "JPEG"),
        (lambda p: b"RIFF\x10\0\0\0WEBPVP8X" + b"\0" * 4, "WebP"),
        (lambda p: "edges\x00.png", "not usable"),
        (_fifo, "not a regular file"),
        (lambda p: "/dev/zero", "not a regular file"),
        (_huge, "larger than"),
        (lambda p: io.BytesIO(b"\0" * (MAX_CONTROL_BYTES + 1)), "larger than"),
    ],
)
def test_broken_or_endless_control_images_are_refused_before_any_request(
    flux, tmp_path, make, words
):
    with pytest.raises(ImageInputError, match=words):
        flux.submit(control_image=make(tmp_path), **ARGS)
    assert flux.route.call_count == 0


def test_a_prompt_that_cannot_be_utf8_is_a_validation_error(flux, png):
    with pytest.raises(RequestValidationError) as caught:
        flux.submit(control_image=png, prompt="caf\udce9 castle", finetune_id="ft-1")
    (error,) = caught.value.errors
    assert error["loc"] == ["body", "prompt"] and error["type"] == "string_unicode"
    assert flux.route.call_count == 0


def test_bfls_size_advice_is_a_warning_not_an_error(flux, caplog):
    flux.submit(control_image=make_image("PNG", (64, 48)), **ARGS)
    assert "at least 256 px a side" in caplog.text and flux.route.call_count == 1


def test_a_control_image_within_the_limits_goes_out_whole(flux):
    image = make_image("PNG", (256, 256))
    flux.submit(control_image=image, **ARGS)
    sent = flux.route.calls.last.request
    assert isinstance(sent, httpx.Request) and len(sent.content) > len(image)


def test_saving_fails_with_typed_errors_that_are_still_os_errors(tmp_path, png):
    from flux_canny import FluxCannyError, GeneratedImage, ImageExistsError, ImageSaveError

    image = GeneratedImage(data=png, format="png", task_id="t1")
    (tmp_path / "file").write_text("")
    with pytest.raises(ImageSaveError) as caught:
        image.save(tmp_path / "file" / "x.png")
    assert isinstance(caught.value, OSError) and isinstance(caught.value, FluxCannyError)
    assert caught.value.errno is not None and caught.value.task_id == "t1"
    image.save(tmp_path / "x.png")
    with pytest.raises(ImageExistsError) as exists:
        image.save(tmp_path / "x.png", overwrite=False)
    assert isinstance(exists.value, FileExistsError)
