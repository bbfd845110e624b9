"""Blocking I/O off the event loop: ledger commits and image saves on a worker thread.

A batch makes five fsync'd ledger commits and one atomic image save a job. Run on the
event loop's thread they held up every other job's requests: in a 1,000-job batch of
0.5 s tasks the loop spent 17 % of its time in them (py-spy).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["off_loop"]

T = TypeVar("T")
P = ParamSpec("P")


async def off_loop(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`work(*args, **kwargs)` on a worker thread. A cancellation waits for it to end,
    then is raised: a thread cannot be stopped, and the caller must know whether the
    ledger holds the write before it decides what the interruption means (sent or not,
    paid or not)."""
    running = asyncio.ensure_future(asyncio.to_thread(work, *args, **kwargs))
    cancelled: asyncio.CancelledError | None = None
    while not running.done():
        try:
            await asyncio.wait({running})
        except asyncio.CancelledError as error:
            cancelled = error
    if cancelled is not None:
        running.exception()  # seen: whatever the work raised goes with the cancellation
        raise cancelled
    return running.result()
