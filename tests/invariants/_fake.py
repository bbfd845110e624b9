"""The fake as the adversary runs it: on a virtual clock it may tick forward with each
request (so a real process's polls see its tasks finish), counting requests in flight
(so a test knows when a killed process's last request is done), and stopping a step
that never ends (a client looping without bound) with an error of its own, and noting
when it last heard a request (so a test tells a real process that waits on the server
from one that hangs). It answers on every host it is sent to: the configured loopback
one, and BFL's (api.bfl.ai, api.us1.bfl.ai) when an in-process client routes by the spec;
tasks submitted to a BFL host live in the region then chosen (their polling URL names its
host, and a poll elsewhere is "not found", as live). Each endpoint may have its price.
Every request is noted with its scheme, host, port and whether it carried the key."""

from __future__ import annotations

import threading
import time
from typing import Any

import attrs
import httpx
from flux_canny.fake import FakeBFL, Reply

#: where the fake answers polls
RESULT_PATH = "/v1/get_result"

#: requests one in-process step may make: far above any honest batch of a few jobs
STEP_REQUESTS = 3000


class Runaway(BaseException):
    """A step made more requests than any bounded run could: a wait without bound."""


@attrs.frozen
class Heard:
    """One request as it reached the fake: where, and whether it carried the key."""

    method: str
    scheme: str
    host: str
    port: int | None
    path: str
    keyed: bool


class AdversaryFake(FakeBFL):
    def __init__(self, **knobs: Any) -> None:
        super().__init__(**knobs)
        #: the regional host new tasks submitted to a BFL host live on (None: that host)
        self.region: str | None = None
        #: each such task's polling host
        self.regions: dict[str, str | None] = {}
        #: each endpoint's price (the others cost `cost_per_task`)
        self.prices: dict[str, float] = {}
        self.default_price = self.cost_per_task
        self.heard: list[Heard] = []
        #: fake seconds each request moves the clock (0: time moves only when clients sleep)
        self.tick_seconds = 0.0
        #: count this step's requests and stop a runaway one (in-process steps only)
        self.guard = False
        self.step_requests = 0
        #: time.monotonic() of the last request: a real process that makes none is stuck
        self.heard_at = time.monotonic()
        self._idle = threading.Condition()
        self._in_flight = 0

    def handle(self, request: httpx.Request) -> Reply:
        self.heard_at = time.monotonic()
        if self.guard:
            self.step_requests += 1
            if self.step_requests > STEP_REQUESTS:
                raise Runaway(f"more than {STEP_REQUESTS} requests in one step")
        if self.tick_seconds:
            self.clock.advance(self.tick_seconds)  # type: ignore[attr-defined]
        url = request.url
        keyed = "x-key" in request.headers
        self.heard.append(Heard(request.method, url.scheme, url.host, url.port, url.path, keyed))
        with self._idle:
            self._in_flight += 1
        try:
            return super().handle(request)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _answer(self, request: httpx.Request, key: str | None) -> httpx.Response:
        """Under the fake's lock: the region and the price that apply to this request."""
        url = request.url
        if url.path == RESULT_PATH:
            self.polling_host = self.regions.get(url.params.get("id", ""))
        else:
            self.polling_host = self.region if url.host.endswith(".bfl.ai") else None
        operation = self._by_path.get(url.path)
        if operation is not None:
            self.cost_per_task = self.prices.get(operation.name, self.default_price)
        response = super()._answer(request, key)
        if self.store.last_created is not None:
            self.regions[self.store.last_created] = self.polling_host
        return response

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being handled."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)
