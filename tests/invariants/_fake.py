"""The fake as the adversary runs it: on a virtual clock it may tick forward with each
request (so a real process's polls see its tasks finish), counting requests in flight
(so a test knows when a killed process's last request is done), and stopping a step
that never ends (a client looping without bound) with an error of its own, and noting
when it last heard a request (so a test tells a real process that waits on the server
from one that hangs)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from flux_canny.fake import FakeBFL, Reply

#: requests one in-process step may make: far above any honest batch of a few jobs
STEP_REQUESTS = 3000


class Runaway(BaseException):
    """A step made more requests than any bounded run could: a wait without bound."""


class AdversaryFake(FakeBFL):
    def __init__(self, **knobs: Any) -> None:
        super().__init__(**knobs)
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
        with self._idle:
            self._in_flight += 1
        try:
            return super().handle(request)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being handled."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)
