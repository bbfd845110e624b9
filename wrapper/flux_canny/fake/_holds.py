"""Holding one request at a chosen point, so a test can act while it is held.

A test that kills a client process needs a moment that does not depend on the scheduler:
"the second submit has reached the server (and its task exists), its answer has not left".
`FakeBFL.hold_next` arms a hold on the Nth matching request; the thread serving it sets
`arrived` and waits (bounded) for `release()`. Meant for the loopback face, where each
request has its own thread: held in-process, the caller itself would wait.
"""

from __future__ import annotations

import threading

import attrs

__all__ = ["HeldRequest"]

#: how long a hold nobody releases keeps its request: a forgotten hold never hangs a test
DEFAULT_HOLD_TIMEOUT = 60.0


@attrs.define(eq=False)
class HeldRequest:
    """The Nth request matching `method` and `path` (a prefix), held before it is
    handled, or after (`after=True`: handled, a task perhaps created, its answer not yet
    sent). `arrived` is set when it is held; `done` when it has been answered or dropped."""

    nth: int
    path: str | None = None
    method: str | None = None
    after: bool = False
    timeout: float = DEFAULT_HOLD_TIMEOUT
    arrived: threading.Event = attrs.field(factory=threading.Event)
    done: threading.Event = attrs.field(factory=threading.Event)
    #: matching requests seen since the hold was armed
    seen: int = 0
    _released: threading.Event = attrs.field(init=False, factory=threading.Event)
    _process: bool = attrs.field(init=False, default=True)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and method != self.method:
            return False
        return self.path is None or path == self.path or path.startswith(self.path)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the request is held; False if it has not arrived in `timeout`."""
        return self.arrived.wait(timeout)

    def release(self, *, process: bool = True) -> None:
        """Let the request go on. A request held before it was handled is then handled,
        or, with process=False, dropped unanswered as if it never reached the server."""
        self._process = process
        self._released.set()

    def block(self) -> bool:
        """Called by the thread serving the request: hold it; whether to process it."""
        self.arrived.set()
        self._released.wait(self.timeout)
        return self._process
