"""pytest plugin (entry point `pytest11`): the `bfl_fake` and `bfl_fake_server` fixtures.

Installed with flux-canny, so downstream projects get them without imports:

    def test_my_app(bfl_fake):
        bfl_fake.fail_next(2, 503)
        with bfl_fake.client() as flux: ...

Knobs can also come from a marker: `@pytest.mark.bfl_fake(task_duration=5, max_active_tasks=2)`,
or `@pytest.mark.bfl_fake(durations={"flux-2-pro": 8.0})`. Both fixtures serve every
image-making operation of the spec (flux-2-pro, flux-kontext-max, ... and the canny finetune).
The fake is imported lazily so that merely having the plugin installed costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from . import FakeBFL, FakeServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "bfl_fake(**knobs): settings for the bfl_fake fixtures")


def _knobs(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("bfl_fake")
    return dict(marker.kwargs) if marker else {}


@pytest.fixture
def bfl_fake(request: pytest.FixtureRequest) -> FakeBFL:
    """An in-process fake BFL API on a virtual clock (polling takes no real time)."""
    from . import FakeBFL, VirtualClock

    knobs = _knobs(request)
    knobs.setdefault("clock", VirtualClock())
    return FakeBFL(**knobs)


@pytest.fixture
def bfl_fake_server(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    """The fake on http://127.0.0.1:PORT in real time; `.base_url`, `.fake`."""
    from . import FakeBFL, FakeServer

    with FakeServer(FakeBFL(**_knobs(request))) as server:
        yield server
