"""Deterministic images for the fake: a Canny edge map of the control image, coloured by seed.

A real edge detector (Gaussian blur, Sobel, non-maximum suppression, double threshold,
hysteresis, as OpenCV does it with an L1 gradient) so that the thresholds a user sends
visibly matter, in numpy only.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections import OrderedDict

import numpy as np
from numpy.typing import NDArray
from PIL import Image

MAX_SIDE = 512
_GAUSS = np.array([2, 4, 5, 4, 2], dtype=np.float64)
_GAUSS /= _GAUSS.sum()


def _blur(img: NDArray[np.float64]) -> NDArray[np.float64]:
    pad = np.pad(img, 2, mode="edge")
    rows = sum(w * pad[:, i : i + img.shape[1]] for i, w in enumerate(_GAUSS))
    return np.asarray(sum(w * rows[i : i + img.shape[0], :] for i, w in enumerate(_GAUSS)))


def canny(gray: NDArray[np.uint8], low: float, high: float) -> NDArray[np.bool_]:
    """Edges of an 8-bit grayscale image at OpenCV-style thresholds (L1 gradient)."""
    if low > high:
        low, high = high, low
    img = _blur(gray.astype(np.float64))
    p = np.pad(img, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    mag = np.abs(gx) + np.abs(gy)
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    m = np.pad(mag, 1)
    h, w = mag.shape
    neighbours = {
        0: (m[1:-1, :-2], m[1:-1, 2:]),
        45: (m[:-2, 2:], m[2:, :-2]),
        90: (m[:-2, 1:-1], m[2:, 1:-1]),
        135: (m[:-2, :-2], m[2:, 2:]),
    }
    sector = (np.round(angle / 45.0).astype(int) % 4) * 45
    keep = np.zeros_like(mag, dtype=bool)
    for deg, (a, b) in neighbours.items():
        sel = sector == deg
        keep |= sel & (mag >= a) & (mag >= b)
    thin = np.where(keep, mag, 0.0)
    strong = thin >= high
    weak = thin >= low
    edges = strong
    for _ in range(4 * max(h, w)):
        e = np.pad(edges, 1)
        grown = weak & (
            e[:-2, :-2]
            | e[:-2, 1:-1]
            | e[:-2, 2:]
            | e[1:-1, :-2]
            | e[1:-1, 2:]
            | e[2:, :-2]
            | e[2:, 1:-1]
            | e[2:, 2:]
            | edges
        )
        if np.array_equal(grown, edges):
            break
        edges = grown
    return np.asarray(edges)


#: edge maps already drawn, newest last: a batch sends one control image with many prompts,
#: and Canny is most of the fake's work a task (keyed by the image's digest, so the cache
#: never holds the images themselves)
_EDGES: OrderedDict[tuple[bytes, float, float], NDArray[np.bool_]] = OrderedDict()
_EDGES_KEPT = 32
_EDGES_LOCK = threading.Lock()


def _edge_map(control_image_b64: str, low: float, high: float) -> NDArray[np.bool_]:
    key = (hashlib.sha256(control_image_b64.encode("ascii", "replace")).digest(), low, high)
    with _EDGES_LOCK:
        found = _EDGES.get(key)
        if found is not None:
            _EDGES.move_to_end(key)
            return found
    try:
        source = Image.open(io.BytesIO(base64.b64decode(control_image_b64)))
        source.draft("L", (MAX_SIDE, MAX_SIDE))
        gray = source.convert("L")
    except Exception:
        gray = Image.new("L", (64, 64), 0)
    gray.thumbnail((MAX_SIDE, MAX_SIDE))
    edges = canny(np.asarray(gray, dtype=np.uint8), low, high)
    edges.setflags(write=False)
    with _EDGES_LOCK:
        _EDGES[key] = edges
        while len(_EDGES) > _EDGES_KEPT:
            _EDGES.popitem(last=False)
    return edges


def render(
    control_image_b64: str, low: int | None, high: int | None, seed: int, output_format: str | None
) -> tuple[bytes, str]:
    """The image a task produces, and its format ("jpeg" or "png")."""
    fmt = (output_format or "jpeg").lower()
    fmt = fmt if fmt in ("jpeg", "png", "webp") else "jpeg"
    edges = _edge_map(control_image_b64, 50 if low is None else low, 200 if high is None else high)
    rng = np.random.default_rng(seed & 0xFFFFFFFF)
    background, ink = rng.integers(0, 256, size=(2, 3), dtype=np.uint8)
    ink = 255 - background if np.abs(ink.astype(int) - background).sum() < 200 else ink
    h, w = edges.shape
    ramp = np.linspace(0.7, 1.0, w)[None, :, None]
    canvas = (background[None, None, :] * ramp * np.ones((h, 1, 1))).astype(np.uint8)
    canvas[edges] = ink
    out = io.BytesIO()
    Image.fromarray(canvas, "RGB").save(out, format=fmt.upper(), quality=90)
    return out.getvalue(), fmt


#: the longest side the fake draws (a flux-2 width has no maximum in the spec)
_LARGEST = 1440
#: the side of a picture whose size nothing fixes, and the long side for an aspect ratio
_PLAIN_SIDE = 1024


def _size(
    source: Image.Image | None,
    width: object,
    height: object,
    aspect_ratio: object,
) -> tuple[int, int]:
    """The output size: width/height as asked, else an aspect ratio, else the input's."""
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        w, h = width, height
    elif isinstance(aspect_ratio, str) and aspect_ratio.count(":") == 1:
        try:
            rw, rh = (float(part) for part in aspect_ratio.split(":"))
        except ValueError:
            rw = rh = 1.0
        ratio = rw / rh if rw > 0 and rh > 0 else 1.0
        w, h = (
            (_PLAIN_SIDE, round(_PLAIN_SIDE / ratio))
            if ratio >= 1
            else (round(_PLAIN_SIDE * ratio), _PLAIN_SIDE)
        )
    elif source is not None:
        w, h = source.size
    else:
        w, h = _PLAIN_SIDE, _PLAIN_SIDE
    scale = min(1.0, _LARGEST / max(w, h, 1))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _decoded(image: str | None) -> Image.Image | None:
    """The first image input as a picture; None for a URL or anything undecodable."""
    if not image or image.startswith(("http://", "https://")):
        return None
    data = image.split(",", 1)[1] if image.startswith("data:") else image
    try:
        source = Image.open(io.BytesIO(base64.b64decode(data)))
        source.draft("RGB", (_LARGEST, _LARGEST))
        return source.convert("RGB")
    except Exception:
        return None


def render_inputs(
    image: str | None,
    prompt: object,
    seed: int,
    output_format: str,
    *,
    width: object = None,
    height: object = None,
    aspect_ratio: object = None,
) -> tuple[bytes, str]:
    """The image a task of any other operation produces: its first image input tinted by
    the seed (so a test sees its own input come back), or, with no decodable input (text
    only, or a URL the fake will not fetch), a picture drawn from the prompt and seed."""
    fmt = output_format if output_format in ("jpeg", "png", "webp") else "jpeg"
    source = _decoded(image)
    size = _size(source, width, height, aspect_ratio)
    digest = hashlib.sha256(f"{prompt}|{seed}".encode("utf-8", "replace")).digest()
    tint = np.frombuffer(digest[:3], dtype=np.uint8).astype(np.float64)
    if source is not None:
        base = np.asarray(source.resize(size), dtype=np.float64)
        canvas = (0.7 * base + 0.3 * tint[None, None, :]).astype(np.uint8)
    else:
        other = np.frombuffer(digest[3:6], dtype=np.uint8).astype(np.float64)
        w, h = size
        ramp = np.linspace(0.0, 1.0, w)[None, :, None] * np.ones((h, 1, 1))
        canvas = ((1 - ramp) * tint + ramp * other).astype(np.uint8)
        band = slice(h // 3, max(h // 3 + 1, 2 * h // 3))
        canvas[band, digest[6] % max(w, 1) :] = 255 - canvas[band, digest[6] % max(w, 1) :]
    out = io.BytesIO()
    Image.fromarray(canvas, "RGB").save(out, format=fmt.upper(), quality=90)
    return out.getvalue(), fmt
