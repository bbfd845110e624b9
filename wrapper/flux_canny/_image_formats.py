"""What an input image is, read from its bytes alone: format, dimensions, and whether
its structure is complete (PNG chunks and CRCs, JPEG segments, the WebP RIFF size),
without decoding a pixel. Every message names the request field the image is for (the
canny finetune's `control_image`, FLUX.2's `input_image_2`, Fill's `mask`...)."""

from __future__ import annotations

import logging
import struct
import zlib

import attrs

from .errors import ImageInputError

__all__ = [
    "BFL_MAX_PIXELS",
    "BFL_MIN_SIDE",
    "MAX_PIXELS",
    "ImageInfo",
    "image_label",
    "inspect_image",
    "sniff_format",
]

# Pillow's own decompression-bomb threshold: beyond it no sane control image lies.
MAX_PIXELS = 89_478_485
#: BFL's documented pixel limits: what the server does outside them is not documented,
#: so they are a warning (see images.BFL_MAX_BASE64 for the one that is an error)
BFL_MAX_PIXELS = 20_000_000
BFL_MIN_SIDE = 256
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
log = logging.getLogger("flux_canny")


@attrs.frozen
class ImageInfo:
    format: str
    width: int
    height: int


def image_label(field: str = "control_image") -> str:
    """How messages name the image of request field `field`: "control image" (the seed's
    wording, kept), "image", "mask image", "input_image_2 image"."""
    if field == "control_image":
        return "control image"
    return "image" if field == "image" else f"{field} image"


class _Broken(Exception):
    """What is wrong with an image's structure ("a corrupt PNG file ..."), before the
    message names the field it was given for."""


def inspect_image(data: bytes | memoryview, *, field: str = "control_image") -> ImageInfo:
    """Format and size of PNG/JPEG/WebP bytes; ImageInputError if broken or unsupported,
    naming the request field (`field`) the image was given for."""
    what = image_label(field)
    view = memoryview(data)
    if len(view) == 0:
        raise ImageInputError(f"the {what} is empty (0 bytes)")
    head = bytes(view[:16])
    kinds = {"png": _inspect_png, "jpeg": _inspect_jpeg, "webp": _inspect_webp}
    kind = (
        "png"
        if head.startswith(_PNG_SIG)
        else "jpeg"
        if head.startswith(b"\xff\xd8\xff")
        else "webp"
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP"
        else None
    )
    if kind is not None:
        try:
            info = kinds[kind](view)
        except _Broken as broken:
            raise ImageInputError(f"the {what} is {broken}") from None
        except (struct.error, IndexError, ValueError) as broken:  # a field cut short
            name = kind.upper() if kind != "webp" else "WebP"
            raise ImageInputError(f"the {what} is {_truncated(name)}") from broken
    else:
        raise ImageInputError(
            f"the {what} is not a PNG, JPEG or WebP image "
            f"(it starts with {head[:8]!r}); convert it to one of those formats"
        )
    if info.width <= 0 or info.height <= 0:
        raise ImageInputError(f"the {what} has no pixels ({info.width}x{info.height})")
    if info.width * info.height > MAX_PIXELS:
        raise ImageInputError(
            f"the {what} is {info.width}x{info.height}, more than {MAX_PIXELS:,} pixels; "
            "downscale it"
        )
    return info


def advise(info: ImageInfo, *, field: str = "control_image") -> None:
    """BFL's documented pixel limits, as a warning: the request is still valid to send."""
    if info.width * info.height > BFL_MAX_PIXELS or min(info.width, info.height) < BFL_MIN_SIDE:
        log.warning(
            "the %s is %dx%d; BFL documents at most %d megapixels and at least "
            "%d px a side: the server may resize or refuse it",
            image_label(field),
            info.width,
            info.height,
            BFL_MAX_PIXELS // 1_000_000,
            BFL_MIN_SIDE,
        )


def _truncated(kind: str) -> _Broken:
    return _Broken(f"a truncated or corrupt {kind} file")


def _inspect_png(view: memoryview) -> ImageInfo:
    pos, size, width, height = 8, len(view), -1, -1
    while True:
        if pos + 12 > size:
            raise _truncated("PNG")
        length, ctype = struct.unpack(">I4s", view[pos : pos + 8])
        end = pos + 12 + length
        if end > size:
            raise _truncated("PNG")
        (crc,) = struct.unpack(">I", view[end - 4 : end])
        if zlib.crc32(view[pos + 4 : end - 4]) != crc:
            raise _Broken(f"a corrupt PNG file (bad {ctype!r} CRC)")
        if ctype == b"IHDR":
            width, height = struct.unpack(">II", view[pos + 8 : pos + 16])
        elif width < 0:
            raise _truncated("PNG")
        if ctype == b"IEND":
            return ImageInfo("png", width, height)
        pos = end


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _inspect_jpeg(view: memoryview) -> ImageInfo:
    pos, size, dims = 2, len(view), None
    while pos + 4 <= size:
        if view[pos] != 0xFF:
            raise _truncated("JPEG")
        marker = view[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        (length,) = struct.unpack(">H", view[pos + 2 : pos + 4])
        if marker in _SOF_MARKERS and pos + 9 <= size:
            height, width = struct.unpack(">HH", view[pos + 5 : pos + 9])
            dims = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the EOI marker
            if dims is None:
                raise _truncated("JPEG")
            if bytes(view[-2:]) != b"\xff\xd9" and bytes(view).rfind(b"\xff\xd9", pos) < 0:
                raise _truncated("JPEG")
            return ImageInfo("jpeg", *dims)
        pos += 2 + length
    raise _truncated("JPEG")


def _inspect_webp(view: memoryview) -> ImageInfo:
    (riff_size,) = struct.unpack("<I", view[4:8])
    if riff_size + 8 > len(view) or len(view) < 30:
        raise _truncated("WebP")
    chunk = bytes(view[12:16])
    body = view[20:]
    if chunk == b"VP8 " and bytes(body[3:6]) == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", body[6:10])
        return ImageInfo("webp", w & 0x3FFF, h & 0x3FFF)
    if chunk == b"VP8L" and body[0] == 0x2F:
        (bits,) = struct.unpack("<I", body[1:5])
        return ImageInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        w = int.from_bytes(body[4:7], "little") + 1
        h = int.from_bytes(body[7:10], "little") + 1
        return ImageInfo("webp", w, h)
    raise _truncated("WebP")


def sniff_format(data: bytes) -> str | None:
    if data.startswith(_PNG_SIG):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None
