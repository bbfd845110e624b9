"""An embedded, spec-faithful fake of the BFL API: in-process, on loopback, as a fixture.

from flux_canny.fake import FakeBFL, VirtualClock
fake = FakeBFL(clock=VirtualClock())
with fake.client() as flux:          # FluxCanny wired to the fake, instant polling
    flux.generate(control_image=..., prompt="...", finetune_id="my-finetune")

It serves every image-making operation of openapi.json (`fake.operations`), each validated
as BFL's server does, with its own duration (`FakeBFL(durations={"flux-2-pro": 5.0})`).
"""

from __future__ import annotations

from .clock import VirtualClock
from .core import FakeBFL, FakeTask, Fault, HeldRequest, Reply, RequestRecord, WebhookDelivery
from .server import FakeServer
from .transport import FakeTransport

__all__ = [
    "FakeBFL",
    "FakeServer",
    "FakeTask",
    "FakeTransport",
    "Fault",
    "HeldRequest",
    "Reply",
    "RequestRecord",
    "VirtualClock",
    "WebhookDelivery",
]
