"""The effect protocol: what a sans-IO flow yields, and how a driver steps it.

A flow is a generator that yields effects (send a request, sleep, write the ledger) and
receives their outcomes: the response or the value, or `Failed` when the I/O raised.
`FluxCanny` performs them with blocking I/O and `AsyncFluxCanny` with async I/O; tests
perform them by hand. A driver
always ends a flow it abandons with `interrupt` (Ctrl-C, a cancellation) or `close`,
as httpx's client does with its auth flows, so the flow's own bookkeeping runs.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

import attrs

from ._wire import Send

__all__ = ["Effect", "Failed", "Flow", "Record", "Sleep", "Step", "advance", "interrupt"]

T = TypeVar("T")


@attrs.frozen
class Sleep:
    seconds: float


@attrs.frozen
class Record:
    """A ledger write: an fsync'd SQLite commit, blocking I/O of a millisecond or more.

    `FluxCanny` runs it in place. `AsyncFluxCanny` runs it on a worker thread so that the
    event loop goes on serving the other tasks (a batch job makes five of these), and if
    it is cancelled meanwhile it waits for the write to end before the flow hears of the
    cancellation: the flow's bookkeeping then knows what the ledger holds.
    """

    write: Callable[[], Any]


@attrs.frozen
class Failed:
    """The outcome of an effect whose I/O raised."""

    error: Exception


Effect = Send | Sleep | Record
Flow = Generator[Effect, Any, T]


@attrs.frozen
class Step:
    """Where a flow stands: the next effect to perform, or its final value."""

    effect: Effect | None
    value: Any = None


def advance(flow: Flow[Any], outcome: Any) -> Step:
    """Send one outcome into a flow (None to start it) and return its next step."""
    try:
        return Step(flow.send(outcome))
    except StopIteration as stop:
        return Step(None, stop.value)


def interrupt(flow: Flow[Any], error: BaseException) -> Step:
    """Throw an interrupt (Ctrl-C, a cancellation) that hit an effect into its flow, so the
    flow's own handlers run: a submit in flight is written down as uncertain, a waiting
    task gets its resume note. The flow re-raises it; httpx's auth-flow driver is the model."""
    try:
        return Step(flow.throw(error))
    except StopIteration as stop:
        return Step(None, stop.value)
