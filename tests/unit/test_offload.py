"""Ledger commits and image saves run off the event loop, and a cancellation never
leaves one half-known: it waits for the write, then is raised."""

from __future__ import annotations

import asyncio
import threading

import pytest
from flux_canny._offload import off_loop


def test_a_cancellation_waits_for_the_write_then_is_raised():
    started, release = threading.Event(), threading.Event()
    written: list[str] = []

    def write() -> str:
        started.set()
        release.wait(10)
        written.append("row")
        return "row"

    async def run() -> tuple[bool, BaseException | None]:
        job = asyncio.ensure_future(off_loop(write))
        await asyncio.to_thread(started.wait, 10)
        job.cancel()
        await asyncio.sleep(0)
        job.cancel()  # a second Ctrl-C does not cut it short either
        await asyncio.sleep(0.05)
        waiting = not job.done()
        release.set()
        try:
            await job
        except asyncio.CancelledError as error:
            return waiting, error
        return waiting, None

    waiting, raised = asyncio.run(run())
    assert waiting and written == ["row"]
    assert isinstance(raised, asyncio.CancelledError)


def test_the_loop_serves_others_while_a_write_runs_and_errors_come_back():
    release = threading.Event()

    def slow() -> int:
        release.wait(10)
        return 7

    def broken() -> None:
        raise OSError("disk full")

    async def run() -> int:
        job = asyncio.ensure_future(off_loop(slow))
        for _ in range(3):  # the loop is free: other coroutines go on
            await asyncio.sleep(0)
        assert not job.done()
        release.set()
        with pytest.raises(OSError, match="disk full"):
            await off_loop(broken)
        return await job

    assert asyncio.run(run()) == 7
