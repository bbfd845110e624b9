"""When to poll and when to retry: pure decisions, no I/O, shared by both clients.

The poll schedule uses, best first: the server's `progress` (extrapolated to a finish
time), the durations of tasks this client already saw finish, and otherwise a gentle
backoff. Near an expected finish it polls densely so a ready image is seen within
tens of milliseconds; far from one it sleeps. `make bench` measures it against fixed
0.5 s (BFL's reference client) and 2 s pollers.
"""

from __future__ import annotations

import random
import statistics
import threading
from collections import deque
from collections.abc import Callable

import attrs

__all__ = ["DurationModel", "PollPolicy", "PollSchedule", "RetryPolicy"]


@attrs.frozen
class PollPolicy:
    """How a task is polled. Every field has a measured default; see `make bench`."""

    #: wait before the first poll of a freshly submitted task
    initial_delay: float = 0.7
    #: the shortest gap between polls, used around an expected finish
    min_interval: float = 0.05
    #: growth of the gap while nothing is known about the task
    backoff: float = 1.3
    #: the longest gap while nothing is known (bounds the latency of noticing Ready)
    max_interval: float = 0.9
    #: the longest sleep an estimated finish time may justify
    max_informed_delay: float = 30.0
    #: learn typical durations from tasks this client saw finish
    learn: bool = True
    #: a learned window [low, high] is swept in this many steps (latency ~ width / 2 steps)
    sweep_steps: int = 4
    #: ...but never in steps longer than this: tasks started together share one window,
    #: so one wide window would otherwise cost all of them the same long step
    max_sweep_step: float = 0.07
    #: uninformed polls are staggered: each task's are moved earlier by its phase (in
    #: [0, 1)) times the gap before, the first by up to this fraction of initial_delay.
    #: Tasks submitted together then poll out of step, spread across the gap, and their
    #: [last pending, first ready] brackets intersect tightly (see DurationModel)
    jitter: float = 0.35
    #: when set, poll at this fixed interval and ignore everything else (for baselines)
    fixed_interval: float | None = None
    random: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)

    @classmethod
    def fixed(cls, interval: float) -> PollPolicy:
        return cls(initial_delay=interval, fixed_interval=interval, learn=False, jitter=0.0)


_GOLDEN = (5**0.5 - 1) / 2


class DurationModel:
    """Durations of finished tasks, as seen by one client, to aim the next polls.

    Each finished task brackets its duration: last seen pending at `lo`, first seen Ready
    at `hi`. For similar tasks the brackets overlap, and their intersection
    [max lo, min hi] is far tighter than any one of them; its midpoint is the estimate.
    When they do not overlap (durations really differ) the median midpoint is used.
    """

    def __init__(self, window: int = 32, *, start: float | None = None) -> None:
        self._brackets: deque[tuple[float, float]] = deque(maxlen=window)
        self._lock = threading.Lock()
        self._phase = random.random() if start is None else start  # noqa: S311 (not secret)

    def next_phase(self) -> float:
        """A poll phase for the next task: successive tasks get phases spread evenly over
        [0, 1) (golden-ratio steps), so any few of them tile the gap between polls, which
        random phases do only on average."""
        with self._lock:
            phase, self._phase = self._phase, (self._phase + _GOLDEN) % 1.0
            return phase

    def observe(self, last_pending: float | None, ready: float) -> None:
        """Record a task first seen Ready at `ready` s, last seen pending at `last_pending` s."""
        with self._lock:
            self._brackets.append((0.0 if last_pending is None else last_pending, ready))

    def window(self) -> tuple[float, float] | None:
        """Where the next similar task should finish: the brackets' intersection, or, when
        they do not overlap, the median bracket."""
        with self._lock:
            brackets = list(self._brackets)
        if not brackets:
            return None
        low = max(lo for lo, _ in brackets)
        high = min(hi for _, hi in brackets)
        if low <= high:
            return low, high
        return (
            float(statistics.median(lo for lo, _ in brackets)),
            float(statistics.median(hi for _, hi in brackets)),
        )

    def estimate(self) -> float | None:
        found = self.window()
        return None if found is None else (found[0] + found[1]) / 2


def _fraction(progress: float | None) -> float | None:
    if progress is None:
        return None
    fraction = progress / 100 if progress > 1 else progress
    return fraction if 0 < fraction < 1 else None


class PollSchedule:
    """The gaps between polls of one task (a small state machine).

    With a learned window [low, high] (similar tasks were still pending at `low` and all
    ready by `high`), the first poll lands at `low` and the window is then swept in a few
    steps (`sweep_steps`): latency stays a fraction of the window, and this task's own
    bracket comes out that many times narrower, so the model sharpens with every task.
    """

    def __init__(
        self,
        policy: PollPolicy,
        learned: float | None = None,
        *,
        window: tuple[float, float] | None = None,
        phase: float | None = None,
    ) -> None:
        self._policy = policy
        if window is None and learned is not None:
            window = (learned, learned)
        self._window = window if policy.learn else None
        self._phase = (policy.random() if phase is None else phase) if policy.jitter else 0.0
        self._gap = policy.initial_delay
        # the offset before the first poll, which the stagger measures from
        self._prev_gap = policy.jitter * policy.initial_delay
        self._dense = policy.min_interval

    def first_delay(self) -> float:
        policy = self._policy
        if policy.fixed_interval is not None:
            return policy.fixed_interval
        if self._window is not None:
            # just before the window the task is most likely still pending: a first poll
            # that already sees Ready only bounds the duration from above, and the margin
            # absorbs the tens of milliseconds by which timings differ between tasks
            low = self._window[0] - policy.min_interval
            return max(policy.min_interval, min(low, policy.max_informed_delay))
        return policy.initial_delay - self._phase * self._prev_gap

    def next_delay(
        self, elapsed: float, progress: float | None, *, learned: float | None = None
    ) -> float:
        """Seconds to wait after a non-final poll made `elapsed` s after submission.

        `learned` is the same moment on the clock the learned window was measured with,
        when that differs (the client measures it from request midpoints).
        """
        policy = self._policy
        if policy.fixed_interval is not None:
            return policy.fixed_interval
        fraction = _fraction(progress)
        if fraction:
            expected = elapsed / fraction
            remaining = expected - elapsed
            if remaining <= policy.min_interval:
                return self._next_dense()
            self._dense = policy.min_interval
            if remaining > 2.0:
                remaining *= 0.8  # re-check the extrapolation before the finish
            return min(remaining, policy.max_informed_delay)
        if self._window is not None:
            low, high = self._window
            elapsed = elapsed if learned is None else learned
            if elapsed < low - policy.min_interval:
                return min(low - elapsed, policy.max_informed_delay)
            if elapsed < high:
                step = min((high - low) / policy.sweep_steps, policy.max_sweep_step)
                return max(policy.min_interval, step)
            return self._next_dense()  # later than every similar task: look often, then less
        if progress is not None and progress > 0:  # at or past 100 %, still pending
            return self._next_dense()
        # poll times stay those of an unstaggered task, each moved earlier by phase × the
        # gap before it: the gaps grow smoothly and, once capped, the shift is a whole gap
        gap, prev = self._gap, self._prev_gap
        self._prev_gap, self._gap = gap, min(gap * policy.backoff, policy.max_interval)
        return gap - self._phase * (gap - prev)

    def _next_dense(self) -> float:
        gap = self._dense
        self._dense = min(self._dense * 1.5, self._policy.max_interval)
        return gap


@attrs.frozen
class RetryPolicy:
    """Retries for transient failures: exponential backoff, full jitter, Retry-After."""

    #: retries after connection errors, timeouts and 5xx
    max_retries: int = 4
    #: retries after 429 (the 24-active-task cap clears as tasks finish)
    max_rate_limit_retries: int = 8
    base_delay: float = 0.5
    max_delay: float = 8.0
    #: the longest Retry-After we honour before giving up instead
    max_retry_after: float = 60.0
    random: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before retry number `attempt` (1-based)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        jitter: float = self.random()
        return ceiling / 2 + jitter * ceiling / 2
