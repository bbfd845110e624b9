"""Shared fixtures: hypothesis profiles, sample images, and both client faces."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flux_canny import AsyncFluxCanny, FluxCanny
from flux_canny.fake import VirtualClock
from hypothesis import HealthCheck, settings
from PIL import Image, ImageDraw

# `make test` runs the bounded ci profile; `make test-thorough` ten times (and more) as many.
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=20, deadline=None)

pytest_plugins = ["pytester", "tests._postgres"]

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-test-0123456789abcdef"
BASE = "https://api.us1.bfl.ai"


def make_image(fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, size[0] - 8, size[1] - 8), outline="black", width=3)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own ledger: nothing touches the user's real state folder."""
    monkeypatch.setenv("FLUX_CANNY_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def png() -> bytes:
    return make_image("PNG")


@pytest.fixture
def jpeg() -> bytes:
    return make_image("JPEG")


@pytest.fixture
def webp() -> bytes:
    return make_image("WEBP")


@pytest.fixture
def b64png(png: bytes) -> str:
    return base64.b64encode(png).decode()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


class Face:
    """One client face with a uniform blocking interface, so a test runs on both."""

    def __init__(self, client: FluxCanny | AsyncFluxCanny, loop: asyncio.AbstractEventLoop | None):
        self.client = client
        self.loop = loop
        self.is_async = loop is not None

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if inspect.isawaitable(result):
                assert self.loop is not None
                return self.loop.run_until_complete(result)
            return result

        return call


@pytest.fixture(params=["sync", "async"])
def face(request: pytest.FixtureRequest, clock: VirtualClock) -> Iterator[Callable[..., Face]]:
    """face(**options) -> a Face over FluxCanny or AsyncFluxCanny (virtual clock, test key)."""
    loop = asyncio.new_event_loop() if request.param == "async" else None
    made: list[Face] = []

    def make(**options: Any) -> Face:
        options.setdefault("api_key", KEY)
        options.setdefault("clock", clock)
        cls = AsyncFluxCanny if loop is not None else FluxCanny
        made.append(Face(cls(**options), loop))
        return made[-1]

    yield make
    for f in made:
        if loop is not None:
            loop.run_until_complete(f.client.aclose())  # type: ignore[union-attr]
        else:
            f.client.close()  # type: ignore[union-attr]
    if loop is not None:
        loop.close()


@pytest.fixture
def wire_cli() -> Iterator[Callable[..., None]]:
    """wire_cli(transport=..., clock=...): the commands' clients use these until the test ends."""
    from flux_canny.cli import _options

    with contextlib.ExitStack() as stack:
        yield lambda **options: stack.enter_context(_options.wired_to(**options))
