"""The fake as an httpx transport, for FluxCanny and AsyncFluxCanny in-process."""

from __future__ import annotations

from typing import Protocol

import httpx

from ..clock import Clock
from ._records import Reply

__all__ = ["FakeTransport", "Handler"]


class Handler(Protocol):
    """What a transport serves from: a FakeBFL, or any object that answers a request with
    a Reply on a clock (the transport takes a handler, as httpx.MockTransport does)."""

    @property
    def clock(self) -> Clock: ...

    def handle(self, request: httpx.Request) -> Reply: ...


class FakeTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Serves requests from a FakeBFL (any `Handler`), turning its I/O faults into
    httpx's exceptions.

    A `slow` fault longer than the request's read timeout becomes httpx.ReadTimeout after
    the request was processed, exactly the ambiguous case a client must not retry blindly.
    """

    def __init__(self, fake: Handler) -> None:
        self.fake = fake

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        reply = self.fake.handle(request)
        delay = self._delay(reply, request)
        if delay:
            self.fake.clock.sleep(delay)
        return self._finish(reply, request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        reply = self.fake.handle(request)
        delay = self._delay(reply, request)
        if delay:
            await self.fake.clock.asleep(delay)
        return self._finish(reply, request)

    @staticmethod
    def _delay(reply: Reply, request: httpx.Request) -> float:
        if reply.fault != "slow":
            return 0.0
        read_timeout = request.extensions.get("timeout", {}).get("read")
        return reply.delay if read_timeout is None else min(reply.delay, read_timeout)

    @staticmethod
    def _finish(reply: Reply, request: httpx.Request) -> httpx.Response:
        if reply.fault == "connect":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if reply.fault == "drop":
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if reply.fault == "slow":
            read_timeout = request.extensions.get("timeout", {}).get("read")
            if read_timeout is not None and reply.delay >= read_timeout:
                raise httpx.ReadTimeout("The read operation timed out", request=request)
        return reply.response
