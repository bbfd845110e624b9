"""An embedded, spec-faithful fake of the BFL API: in-process, on loopback, as a fixture.

from flux_canny.fake import FakeBFL, VirtualClock
fake = FakeBFL(clock=VirtualClock())
with fake.client() as flux:          # FluxCanny wired to the fake, instant polling
    flux.generate(control_image=..., prompt="...", finetune_id="my-finetune")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .clock import VirtualClock
from .core import FakeBFL as _CoreFakeBFL
from .core import Fault, Reply, RequestRecord, Task, WebhookDelivery
from .server import FakeServer
from .transport import FakeTransport

if TYPE_CHECKING:
    from ..aclient import AsyncFluxCanny
    from ..client import FluxCanny

__all__ = [
    "FakeBFL",
    "FakeServer",
    "FakeTransport",
    "Fault",
    "Reply",
    "RequestRecord",
    "Task",
    "VirtualClock",
    "WebhookDelivery",
]


class FakeBFL(_CoreFakeBFL):
    """The fake, with helpers that wire clients to it."""

    api_key = "test-key"

    def transport(self) -> FakeTransport:
        return FakeTransport(self)

    def _client_options(self, options: dict[str, Any]) -> dict[str, Any]:
        options.setdefault("api_key", next(iter(sorted(self.api_keys)), self.api_key))
        options.setdefault("transport", self.transport())
        options.setdefault("clock", self.clock)
        # a fake's tasks cost nothing: they stay out of the user's ledger unless asked for
        options.setdefault("ledger", False)
        return options

    def client(self, **options: Any) -> FluxCanny:
        from ..client import FluxCanny

        return FluxCanny(**self._client_options(options))

    def async_client(self, **options: Any) -> AsyncFluxCanny:
        from ..aclient import AsyncFluxCanny

        return AsyncFluxCanny(**self._client_options(options))
