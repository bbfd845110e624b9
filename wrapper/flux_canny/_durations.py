"""Learned task durations: their distribution, and the poll times that suit it.

A finished task tells the client only a bracket: it was still pending at the last poll
and Ready at the next one. Durations really vary (a few percent from the model, seconds
from queueing), so one number is the wrong summary: sweeping a window around it
restarts on every task when durations spread, and costs more requests than a plain 1 s
poller. Instead the brackets are turned into a distribution (Turnbull's estimator, the
maximum-likelihood answer for interval-censored data) and the poll times are chosen to
minimise `expected latency + request_cost × expected requests` over it (a small dynamic
programme). Narrow distributions get one or two well-aimed polls; wide ones get gaps
that follow the hazard: sparse where few tasks finish, dense where many do.
"""

from __future__ import annotations

import bisect
import itertools
import random
import threading
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["DurationModel", "PollPlan"]

_GOLDEN = (5**0.5 - 1) / 2
#: cells the distribution is cut into for planning (the plan's time resolution is the
#: distribution's width / this)
_CELLS = 96
#: no generation takes a day: a longer bracket is a clock that jumped
_LONGEST = 86_400.0
#: the price range a latency budget searches (seconds of latency per request), and its steps
_CHEAPEST, _DEAREST, _BISECTIONS = 0.005, 10.0, 8
#: the narrowest smoothing: durations measured a few milliseconds apart are one duration
_MIN_BANDWIDTH = 0.02

Component = tuple[float, float, float]  # (left, right, mass): mass spread over (left, right]


def turnbull(brackets: Sequence[tuple[float, float]], *, iterations: int = 300) -> list[Component]:
    """The nonparametric maximum-likelihood distribution of interval-censored durations.

    Mass lives only on the "innermost" intervals: a left end followed, in sorted order, by
    a right end. Each bracket covers a contiguous run of them, so one EM step is linear.
    """
    fixed = [(lo, max(hi, lo + 1e-6)) for lo, hi in brackets]
    # at equal values a right end sorts first: (a, b] and (b, c] share no point
    ends = sorted([(hi, 0) for _, hi in fixed] + [(lo, 1) for lo, _ in fixed])
    lefts: list[float] = []
    rights: list[float] = []
    for (value, kind), (following, next_kind) in itertools.pairwise(ends):
        if kind == 1 and next_kind == 0:
            lefts.append(value)
            rights.append(following)
    count = len(lefts)
    spans = [(bisect.bisect_left(lefts, lo), bisect.bisect_right(rights, hi)) for lo, hi in fixed]
    mass = [1.0 / count] * count
    for _ in range(iterations):
        prefix = [0.0]
        for m in mass:
            prefix.append(prefix[-1] + m)
        weight = [0.0] * (count + 1)
        for a, b in spans:
            share = prefix[b] - prefix[a]
            if share > 0:
                weight[a] += 1.0 / share
                weight[b] -= 1.0 / share
        running = 0.0
        updated = []
        for j in range(count):
            running += weight[j]
            updated.append(mass[j] * running / len(fixed))
        change = max(abs(x - y) for x, y in zip(mass, updated, strict=True))
        mass = updated
        if change < 1e-7:
            break
    return [(lefts[j], rights[j], mass[j]) for j in range(count) if mass[j] > 1e-9]


def _smoothed(components: list[Component], observed: int, top: float) -> list[Component]:
    """Widen each component by a bandwidth (a rule-of-thumb kernel): the next task's
    duration is not one of the few already seen, and the plan must cover its neighbours."""
    mean = sum((lo + hi) / 2 * m for lo, hi, m in components)
    variance = sum(
        ((hi - lo) ** 2 / 12 + ((lo + hi) / 2 - mean) ** 2) * m for lo, hi, m in components
    )
    width = max(_MIN_BANDWIDTH, 1.06 * variance**0.5 * observed ** (-0.2))
    return [(max(0.0, lo - width), min(hi + width, top), m) for lo, hi, m in components]


class PollPlan(NamedTuple):
    """Poll times (seconds from submission), and what they cost over the distribution."""

    times: tuple[float, ...]
    #: expected seconds from Ready to the poll that sees it (within the plan)
    latency: float
    #: expected polls (within the plan)
    polls: float


def plan_polls(components: list[Component], *, request_cost: float, min_gap: float) -> PollPlan:
    """Poll times (from submission) minimising E[latency] + request_cost × E[polls].

    A poll at t is made only if the task was still pending at the one before, so it costs
    request_cost × P(D > previous poll); a task finishing in (t_prev, t] is seen t - D late.
    """
    low = min(lo for lo, _, _ in components)
    high = max(hi for _, hi, _ in components)
    step = (high - low) / _CELLS
    edges = [low + k * step for k in range(_CELLS + 1)]
    cell = [0.0] * _CELLS
    for lo, hi, m in components:
        first = min(_CELLS - 1, int((lo - low) / step))
        last = min(_CELLS - 1, int((hi - low) / step))
        for k in range(first, last + 1):
            overlap = min(hi, edges[k + 1]) - max(lo, edges[k])
            cell[k] += m * max(0.0, overlap) / (hi - lo)
    total = sum(cell)
    reached = [0.0]  # P(D <= edges[k])
    moment = [0.0]  # sum of mass x cell midpoint up to edges[k]
    for k, m in enumerate(cell):
        reached.append(reached[-1] + m / total)
        moment.append(moment[-1] + m / total * (edges[k] + step / 2))
    best = [0.0] * (_CELLS + 1)
    choice = [_CELLS] * (_CELLS + 1)
    for i in range(_CELLS - 1, -1, -1):
        pending = request_cost * (1.0 - reached[i])
        # index 0 is the submission itself: the first poll has no gap to respect
        nearest = i + 1 if i == 0 else i + max(1, int(min_gap / step + 0.999))
        top = float("inf")
        # the last poll too keeps its gap: one a few ms after another is a wasted request
        for j in range(nearest, _CELLS + 1):
            late = edges[j] * (reached[j] - reached[i]) - (moment[j] - moment[i])
            cost = pending + late + best[j]
            if cost < top:
                top, choice[i] = cost, j
        best[i] = top
    times = []
    latency = polls = 0.0
    at = 0
    while at < _CELLS:
        following = choice[at]
        polls += 1.0 - reached[at]
        latency += edges[following] * (reached[following] - reached[at])
        latency -= moment[following] - moment[at]
        at = following
        times.append(edges[at])
    return PollPlan(tuple(times), latency, polls)


def budgeted_plan(
    components: list[Component], *, request_cost: float, min_gap: float, latency_budget: float
) -> PollPlan:
    """The plan at `request_cost`, or, when it sees Ready sooner than `latency_budget` on
    average, the plan at the dearest price of a request whose plan still does: requests
    priced up, and so fewer polls, as far as the budget allows.

    Latency under the budget goes unnoticed, so requests are not spent on it: on tasks of
    one duration give or take 8 %, the cheapest plan polls early and late and the budgeted
    one once, at the end of the spread. The optimum moves monotonically with the price (a
    Lagrangian), so the price is found by bisection in log space; a plan that is optimal at
    no price (one a brute force over poll times might find) is not considered.
    """
    plan = plan_polls(components, request_cost=request_cost, min_gap=min_gap)
    if plan.latency >= latency_budget or request_cost >= _DEAREST:
        return plan
    low, high = max(request_cost, _CHEAPEST), _DEAREST
    dearest = plan_polls(components, request_cost=high, min_gap=min_gap)
    if dearest.latency <= latency_budget:
        return dearest
    for _ in range(_BISECTIONS):
        price = (low * high) ** 0.5
        found = plan_polls(components, request_cost=price, min_gap=min_gap)
        if found.latency <= latency_budget:
            plan, low = found, price
        else:
            high = price
    return plan


class DurationModel:
    """Durations of finished tasks, as seen by one client, to aim the next polls.

    Each finished task brackets its duration: last seen pending at `lo`, first seen Ready
    at `hi`. The brackets make a distribution (see the module's docstring), and the poll
    plan follows it: those of the last `window` tasks that teach (`PollSchedule.teaches`),
    and of the others, those among the last `window` tasks. Plans are recomputed as tasks
    finish, at most every eighth of the brackets held, so a batch of thousands pays a
    fraction of a millisecond per task.
    """

    def __init__(self, window: int = 64, *, start: float | None = None) -> None:
        self._brackets: deque[tuple[float, float]] = deque(maxlen=window)
        #: brackets of tasks that had a single planned poll, with their place among all
        #: tasks: kept apart, so that a long run of them (most tasks, once the plan is
        #: sharp) never evicts the ones that teach, and counted only while among the last
        #: `window` tasks, so that once plans poll more often they cannot outlive the
        #: durations they saw (kept, half the model clung to tasks from before a slowdown)
        self._plain: deque[tuple[int, float, float]] = deque(maxlen=window)
        self._span = window
        self._lock = threading.Lock()
        self._phase = random.random() if start is None else start  # noqa: S311 (not secret)
        self._seen = 0
        self._planned_at = -1
        self._plans: dict[tuple[float, float, float], PollPlan] = {}
        self._components: list[Component] | None = None
        #: the window of `_components`, found once per distribution: two quantiles are a
        #: bisection each over every piece, and every wait asks (with a full model, the
        #: per-task cost that grew with the batch)
        self._window: tuple[float, float] | None = None

    def sibling(self) -> DurationModel:
        """An empty model like this one (its window, its current phase): another
        endpoint's tasks, which must not bend this one's plan."""
        with self._lock:
            return DurationModel(self._brackets.maxlen or 64, start=self._phase)

    def next_phase(self) -> float:
        """A poll phase for the next task: successive tasks get phases spread evenly over
        [0, 1) (golden-ratio steps), so any few of them tile the gap between polls, which
        random phases do only on average."""
        with self._lock:
            phase, self._phase = self._phase, (self._phase + _GOLDEN) % 1.0
            return phase

    def observe(self, last_pending: float | None, ready: float, *, teaches: bool = True) -> None:
        """Record a task first seen Ready at `ready` s, last seen pending at `last_pending` s;
        `teaches` is false for a task that had a single planned poll (`PollSchedule.teaches`).

        A bracket no task can have (negative, not finite, a day or more, Ready before its
        last pending: a clock that jumped, a damaged ledger row) is ignored rather than
        allowed to bend every plan."""
        low = 0.0 if last_pending is None else last_pending
        if not (0.0 <= low < ready < _LONGEST):
            return
        with self._lock:
            self._seen += 1
            if teaches:
                self._brackets.append((low, ready))
            else:
                self._plain.append((self._seen, low, ready))

    def brackets(self) -> list[tuple[float, float]]:
        with self._lock:
            return self._held()

    def _held(self) -> list[tuple[float, float]]:
        """The brackets the distribution is made of (called under the lock)."""
        recent = self._seen - self._span
        return [*self._brackets, *((lo, hi) for at, lo, hi in self._plain if at > recent)]

    def distribution(self) -> list[Component] | None:
        """The smoothed distribution of durations, as (left, right, mass) pieces."""
        with self._lock:
            brackets = self._held()
            seen = self._seen
            fresh = seen - self._planned_at < max(1, len(brackets) // 8)
            if fresh and self._components is not None:
                return self._components
        if not brackets:
            return None
        components = _smoothed(
            _unbounded_at_right_end(turnbull(brackets)),
            len(brackets),
            max(hi for _, hi in brackets),
        )
        with self._lock:
            self._components, self._planned_at, self._plans = components, seen, {}
            self._window = None
        return components

    def plan(
        self, *, request_cost: float, min_gap: float, latency_budget: float = 0.0
    ) -> tuple[float, ...] | None:
        """Poll times for the next task, or None before any task finished."""
        found = self.costed_plan(
            request_cost=request_cost, min_gap=min_gap, latency_budget=latency_budget
        )
        return None if found is None else found.times

    def costed_plan(
        self, *, request_cost: float, min_gap: float, latency_budget: float = 0.0
    ) -> PollPlan | None:
        """The plan for the next task with its expected latency and polls (what prices its
        probes), or None before any task finished.

        A young model spends `latency_budget` only in proportion to how far it has grown
        (its brackets that teach, against an eighth of its window): its latency is an
        estimate not yet worth spending."""
        components = self.distribution()
        if components is None:
            return None
        with self._lock:
            grown = min(1.0, 8 * len(self._brackets) / (self._brackets.maxlen or 1))
            key = (request_cost, min_gap, latency_budget * grown)
            found = self._plans.get(key)
        if found is None:
            found = budgeted_plan(
                components, request_cost=request_cost, min_gap=min_gap, latency_budget=key[2]
            )
            with self._lock:
                if self._components is components:  # not refit by another thread meanwhile
                    self._plans[key] = found
        return found

    def window(self) -> tuple[float, float] | None:
        """Where most similar tasks finish: the 5th and 95th percentiles."""
        components = self.distribution()
        if components is None:
            return None
        with self._lock:
            if self._components is components and self._window is not None:
                return self._window
        found = _quantile(components, 0.05), _quantile(components, 0.95)
        with self._lock:
            if self._components is components:
                self._window = found
        return found

    def estimate(self) -> float | None:
        """The median duration, or None before any task finished."""
        components = self.distribution()
        return None if components is None else _quantile(components, 0.5)


def _quantile(components: list[Component], q: float) -> float:
    """The q-quantile of a mixture of uniform pieces (found by bisection on its CDF)."""
    low = min(lo for lo, _, _ in components)
    high = max(hi for _, hi, _ in components)
    total = sum(m for _, _, m in components)

    def cdf(x: float) -> float:
        return sum(m * min(1.0, max(0.0, (x - lo) / (hi - lo))) for lo, hi, m in components) / total

    for _ in range(50):
        middle = (low + high) / 2
        if cdf(middle) < q:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _unbounded_at_right_end(components: list[Component]) -> list[Component]:
    """Mass with no lower bound (tasks seen Ready at their first poll, never pending below
    it) spread below its upper end as far as the bounded mass spreads: the estimator says
    only `D <= r`. Spread evenly over (0, r], it would claim durations near zero that no
    task showed; put at r, the first poll could only move later, never learn the edge."""
    bounded = [(lo, hi) for lo, hi, _ in components if lo > 0.0]
    if not bounded:
        return components
    span = max(hi for _, hi in bounded) - min(lo for lo, _ in bounded)
    return [((max(0.0, hi - span) if lo <= 0.0 else lo), hi, m) for lo, hi, m in components]
