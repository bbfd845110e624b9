"""A clock that tests drive: sleeping advances it at once, so polling costs no time."""

from __future__ import annotations

import asyncio
import threading

__all__ = ["VirtualClock"]


class VirtualClock:
    """Implements flux_canny.Clock. Give the same instance to the fake and the client."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        #: every sleep requested, in order (tests read Retry-After and backoff from it)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not run backwards")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))

    async def asleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)
