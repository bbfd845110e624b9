"""Jobs a window at a time, for iter_many and `flux-canny batch` alike."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from flux_canny._window import windowed


def test_never_more_than_the_window_runs_and_items_are_taken_as_room_frees():
    taken: list[int] = []
    state = {"now": 0, "most": 0}

    def items():
        for i in itertools.count():
            taken.append(i)
            yield i

    async def run(i: int) -> int:
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        try:
            await asyncio.sleep(0.001 * (i % 3))
        finally:
            state["now"] -= 1
        return i

    async def main() -> list[int]:
        got = []
        async with contextlib.aclosing(windowed(items(), run, 4)) as results:
            async for i in results:
                got.append(i)
                if len(got) == 10:
                    break
        return got

    got = asyncio.run(main())
    assert len(set(got)) == 10
    assert state["most"] == 4 and state["now"] == 0  # the rest were cancelled and awaited
    assert len(taken) <= 10 + 4  # a generator of endless jobs is read only a window ahead


def test_a_cancelled_consumer_cancels_the_runs_and_waits_for_them():
    ended: list[str] = []

    async def run(i: int) -> None:
        try:
            await asyncio.sleep(10)
        finally:
            ended.append(f"job {i}")

    async def consume() -> None:
        async with contextlib.aclosing(windowed(range(100), run, 3)) as results:
            async for _ in results:
                pass

    async def main() -> None:
        consumer = asyncio.ensure_future(consume())
        await asyncio.sleep(0.01)
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)

    asyncio.run(main())
    assert sorted(ended) == ["job 0", "job 1", "job 2"]
