"""Many jobs, a window at a time: `iter_many` and `flux-canny batch` both run this way.

Jobs are taken from their iterable only as room frees, so a batch of thousands (or a
generator of them) holds the window in memory, not the batch: 5,000 jobs took 12 MiB
more than 100 when every job's task was made up front.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import TypeVar

__all__ = ["windowed"]

T = TypeVar("T")
R = TypeVar("R")


async def windowed(
    items: Iterable[T], run: Callable[[T], Awaitable[R]], width: int
) -> AsyncGenerator[R, None]:
    """`run(item)` for each item, at most `width` at once; each result as it finishes.

    The next item is started before a result is handed over, so the window stays full
    while the caller looks at it. Closing this early (use `contextlib.aclosing`), or
    cancelling the caller, starts nothing more, cancels the runs still going and waits
    for them: their own handlers decide what a cancellation means.
    """
    pending = iter(items)
    running: set[asyncio.Future[R]] = set()

    def start() -> bool:
        for item in pending:
            running.add(asyncio.ensure_future(run(item)))
            return True
        return False

    try:
        while len(running) < width and start():
            pass
        while running:
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            running.difference_update(done)
            for finished in done:
                start()
                yield finished.result()  # a run that raised raises here
    finally:
        for future in running:
            future.cancel()
        await asyncio.gather(*running, return_exceptions=True)
