"""When to poll and when to retry: pure decisions, no I/O, shared by both clients.

The poll schedule uses, best first: the server's `progress` (extrapolated to a finish
time), the distribution of durations of tasks this client already saw finish (see
`_durations`), and otherwise a gentle backoff. `make bench` measures it against fixed
0.5 s (BFL's reference client) and 1 s (BFL's official SDK) pollers.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Sequence

import attrs

from ._checks import at_least, fraction
from ._durations import DurationModel, PollPlan

__all__ = ["DurationModel", "PollPlan", "PollPolicy", "PollSchedule", "RetryPolicy"]


@attrs.frozen
class PollPolicy:
    """How a task is polled. Every field has a measured default; see `make bench`."""

    #: wait before the first poll of a freshly submitted task
    initial_delay: float = attrs.field(default=0.7, validator=at_least(0))
    #: the shortest gap between polls, used around an expected finish
    min_interval: float = attrs.field(default=0.05, validator=at_least(0, above=True))
    #: growth of the gap while nothing is known about the task
    backoff: float = attrs.field(default=1.3, validator=at_least(1))
    #: the longest gap while nothing is known (bounds the latency of noticing Ready)
    max_interval: float = attrs.field(default=0.9, validator=at_least(0, above=True))
    #: the longest sleep an estimated finish time may justify
    max_informed_delay: float = attrs.field(default=30.0, validator=at_least(0))
    #: learn the distribution of durations from tasks this client saw finish
    learn: bool = True
    #: the one trade-off knob: how many seconds of expected latency (from Ready to the poll
    #: that sees it) one request is worth. Learned polls minimise
    #: E[latency] + request_cost x E[requests]; raise it for fewer requests, lower it for
    #: faster answers. 0.05 s: on 12 s tasks within ±8 %, 0.35 x a 1 s poller's requests
    #: at a p50 latency under 0.15 s (`make bench`'s mixed batch)
    request_cost: float = attrs.field(default=0.05, validator=at_least(0))
    #: uninformed polls are staggered: each task's are moved earlier by its phase (in
    #: [0, 1)) times the gap before, the first by up to this fraction of initial_delay.
    #: Tasks submitted together then poll out of step, spread across the gap, and their
    #: [last pending, first ready] brackets intersect tightly (see DurationModel)
    jitter: float = attrs.field(default=0.35, validator=fraction)
    #: what probes may add to a task's expected requests, as a share of them: with a
    #: plan of E expected polls, a share `explore x E` of tasks (by their phase) probe once
    #: inside the learned window before it, the observations that keep the model learning
    #: (see _with_probe). A probe costs at most one request, so exploring stays a twentieth
    #: of the cost on any plan: few probes where one poll suffices, more where tasks spread
    explore: float = attrs.field(default=0.05, validator=fraction)
    #: when set, poll at this fixed interval and ignore everything else (for baselines)
    fixed_interval: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(at_least(0, above=True))
    )
    random: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)
    #: the expected latency a learned plan may spend to save requests: when the plan at
    #: `request_cost` sees Ready sooner than this on average, requests are priced up until
    #: it would not. A delay this small goes unnoticed, so requests are not spent on it.
    #: A young model (under 8 brackets that teach) spends a share of it in proportion:
    #: its latency is an estimate not yet worth spending (5 s tasks were seen 0.16-0.22 s
    #: late in `make bench`'s waves of a few dozen tasks). (Last, so that the fields
    #: before it keep their places for positional callers.)
    latency_budget: float = attrs.field(default=0.12, validator=at_least(0))

    @classmethod
    def fixed(cls, interval: float) -> PollPolicy:
        return cls(initial_delay=interval, fixed_interval=interval, learn=False, jitter=0.0)


def _with_probe(
    plan: list[float],
    policy: PollPolicy,
    phase: float,
    window: tuple[float, float] | None,
    expected: float,
) -> list[float]:
    """The plan, and for a share of tasks one probe before it, so the model keeps learning
    where durations begin.

    Tasks following one plan are seen Ready at its planned polls, which bound the
    durations from above but not below. Phases below the share (golden-ratio steps:
    evenly spread) place the probe evenly between the window's low end and the first
    planned poll, where the plan is blind.
    The share is priced against the plan: `policy.explore` of its `expected` polls (a
    probe costs at most one more), so a plan of one poll on 1 s tasks is probed by a
    twentieth of them, not a quarter, which alone had cost an eighth more requests. A
    probe within min_interval of a planned poll is left out: answered late, it would make
    the schedule skip that poll.
    """
    share = min(1.0, policy.explore * expected)
    if window is None or not policy.jitter or phase >= share:
        return plan
    low, high = window[0], min(window[1], plan[0] - policy.min_interval)
    probe = max(policy.min_interval, low + phase / share * (high - low))
    if probe > high:
        return plan  # no room below the first planned poll: nothing hides there
    return [probe, *plan]


def _fraction(progress: float | None) -> float | None:
    if progress is None:
        return None
    fraction = progress / 100 if progress > 1 else progress
    return fraction if 0 < fraction < 1 else None


class PollSchedule:
    """The gaps between polls of one task (a small state machine).

    Best first: the task's own progress (extrapolated to a finish time); a plan from the
    learned distribution of durations (`DurationModel.plan`), with a probe before it for a
    share of tasks so that the model keeps learning; otherwise a staggered backoff. Past
    the plan's last poll (a task slower than every similar one) it polls densely, then
    less and less.
    """

    def __init__(
        self,
        policy: PollPolicy,
        *,
        plan: Sequence[float] | None = None,
        phase: float | None = None,
        window: tuple[float, float] | None = None,
        expected: float | None = None,
    ) -> None:
        """`plan` is learned poll times, `expected` its expected polls (else its length),
        `window` where most durations fall, `phase` this task's place among its peers."""
        self._policy = policy
        self._phase = (policy.random() if phase is None else phase) if policy.jitter else 0.0
        self._plan: list[float] | None = None
        if plan and policy.learn:
            expected = len(plan) if expected is None else expected
            self._plan = _with_probe(list(plan), policy, self._phase, window, expected)
        self._gap = policy.initial_delay
        # the offset before the first poll, which the stagger measures from
        self._prev_gap = policy.jitter * policy.initial_delay
        self._dense = policy.min_interval

    @property
    def teaches(self) -> bool:
        """Whether the task's bracket is kept with those that teach: not when a single
        planned poll is all it gets (seen Ready there, as most are, it says only that the
        plan was late enough). Decided before the task runs, never by what it showed, so
        keeping them apart (see DurationModel) biases neither window."""
        return self._plan is None or len(self._plan) > 1

    def first_delay(self) -> float:
        policy = self._policy
        if policy.fixed_interval is not None:
            return policy.fixed_interval
        if self._plan is not None:
            return min(self._plan[0], policy.max_informed_delay)
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
        if self._plan is not None:
            elapsed = elapsed if learned is None else learned
            # the next planned poll not already passed (a slow answer may skip one)
            at = bisect.bisect_right(self._plan, elapsed + policy.min_interval / 2)
            if at < len(self._plan):
                return min(self._plan[at] - elapsed, policy.max_informed_delay)
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
    max_retries: int = attrs.field(default=4, validator=at_least(0, integer=True))
    #: retries after 429 (the 24-active-task cap clears as tasks finish)
    max_rate_limit_retries: int = attrs.field(default=8, validator=at_least(0, integer=True))
    base_delay: float = attrs.field(default=0.5, validator=at_least(0))
    max_delay: float = attrs.field(default=8.0, validator=at_least(0))
    #: the longest Retry-After we honour before giving up instead
    max_retry_after: float = attrs.field(default=60.0, validator=at_least(0))
    random: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before retry number `attempt` (1-based)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        jitter: float = self.random()
        return ceiling / 2 + jitter * ceiling / 2
