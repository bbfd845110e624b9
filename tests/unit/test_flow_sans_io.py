"""The flows are pure: driven here step by step with hand-made outcomes, no network, no clock."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Callable

import attrs
import httpx
import pytest
from flux_canny import PollPolicy, RetryPolicy, SubmitUncertainError, Task
from flux_canny._auth import HostPolicy
from flux_canny._effects import Failed, Record, Sleep, advance, interrupt
from flux_canny._flow import Core
from flux_canny._wire import Send, SubmitBody, submit_body
from flux_canny.fake import VirtualClock
from flux_canny.ledger import Ledger
from flux_canny.policy import DurationModel, PollSchedule

BASE = httpx.URL("https://api.us1.bfl.ai")


def core(clock: VirtualClock) -> Core:
    return Core(
        base_url=BASE,
        hosts=HostPolicy(BASE, ["*.bfl.ai"]),
        clock=clock,
        retry=RetryPolicy(random=lambda: 0.5),
        poll=PollPolicy(jitter=0.2),
        durations=DurationModel(start=0.5),  # first phase 0.5: 0.7 s × (1 - 0.2 × 0.5)
    )


def body() -> SubmitBody:
    return submit_body({"finetune_id": "f", "prompt": "p"}, b"aGk=")


def test_wait_yields_sleeps_and_gets_then_returns_the_result():
    clock = VirtualClock()
    flow = core(clock).wait(
        Task(
            id="t",
            polling_url="https://api.us1.bfl.ai/v1/get_result?id=t",
            submitted_at=clock.monotonic(),
        )
    )
    step = advance(flow, None)
    assert step.effect == Sleep(pytest.approx(0.63))
    clock.advance(0.63)
    step = advance(flow, None)
    assert step.effect == Send("GET", "https://api.us1.bfl.ai/v1/get_result?id=t", with_key=True)
    step = advance(
        flow, httpx.Response(200, json={"id": "t", "status": "Pending", "progress": 0.5})
    )
    assert isinstance(step.effect, Sleep) and step.effect.seconds == pytest.approx(0.63)
    clock.advance(step.effect.seconds)
    assert advance(flow, None).effect.method == "GET"
    step = advance(
        flow,
        httpx.Response(
            200, json={"id": "t", "status": "Ready", "result": {"sample": "https://d/x"}}
        ),
    )
    assert step.effect is None and step.value.sample == "https://d/x"


def test_submit_effect_is_the_generated_request_and_an_ambiguous_failure_ends_it():
    flow = core(VirtualClock()).submit(body())
    step = advance(flow, None)
    assert step.effect == Send(
        "POST",
        httpx.URL("https://api.us1.bfl.ai/v1/flux-pro-1.0-canny-finetuned"),
        options={
            "headers": {"Content-Type": "application/json"},
            "content": b'{"finetune_id":"f","prompt":"p","control_image":"aGk="}',
        },
    )
    with pytest.raises(SubmitUncertainError):
        advance(flow, Failed(httpx.ReadTimeout("late")))


def test_the_ledger_writes_are_effects_and_the_sending_row_comes_before_the_post(tmp_path):
    """The async face runs Record effects on a worker thread; the order is the flow's."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    flow = attrs.evolve(core(VirtualClock()), ledger=ledger).submit(body())
    step = advance(flow, None)
    assert isinstance(step.effect, Record) and ledger.entries() == []
    step = advance(flow, step.effect.write())
    assert [e.state for e in ledger.entries()] == ["sending"]
    assert isinstance(step.effect, Send) and step.effect.method == "POST"
    answer = {"id": "t1", "polling_url": "https://api.us1.bfl.ai/v1/get_result?id=t1"}
    step = advance(flow, httpx.Response(200, json=answer))
    assert isinstance(step.effect, Record)
    assert advance(flow, step.effect.write()).value.id == "t1"
    assert [(e.state, e.task_id) for e in ledger.entries()] == [("submitted", "t1")]


def test_an_interrupt_while_the_row_is_written_marks_it_never_sent(tmp_path):
    """The async face lets a cancellation reach the flow only after the write ended: the
    row exists, the POST never left, so no later run may call it uncertain."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    flow = attrs.evolve(core(VirtualClock()), ledger=ledger).submit(body())
    step = advance(flow, None)
    step.effect.write()  # the worker thread finished the write
    step = interrupt(flow, KeyboardInterrupt())
    assert isinstance(step.effect, Record)  # no Send: the flow records, then re-raises
    with pytest.raises(KeyboardInterrupt):
        advance(flow, step.effect.write())
    ((state, error),) = [(e.state, e.error) for e in ledger.entries()]
    assert state == "rejected" and "before sending" in error


def test_a_refused_connection_is_retried_after_a_backoff_sleep():
    flow = core(VirtualClock()).submit(body())
    advance(flow, None)
    step = advance(flow, Failed(httpx.ConnectError("refused")))
    assert step.effect == Sleep(0.375)  # base 0.5, jitter fixed at 0.5: 0.25 + 0.125
    assert advance(flow, None).effect.method == "POST"


def test_progress_aims_polls_at_the_finish():
    schedule = PollSchedule(PollPolicy())
    assert schedule.next_delay(elapsed=1.0, progress=0.1) == pytest.approx(7.2)  # 80 % of 9 s
    assert schedule.next_delay(elapsed=8.2, progress=0.82) == pytest.approx(1.8)
    assert schedule.next_delay(elapsed=10.0, progress=0.999) == 0.05  # dense at the end
    assert schedule.next_delay(elapsed=10.1, progress=0.999) == pytest.approx(0.075)


def test_percent_progress_is_understood():
    schedule = PollSchedule(PollPolicy())
    assert schedule.next_delay(elapsed=2.0, progress=50) == pytest.approx(2.0)


def test_without_information_the_gap_grows_to_a_cap():
    schedule = PollSchedule(PollPolicy(jitter=0))
    gaps = [schedule.next_delay(elapsed=i, progress=None) for i in range(10)]
    assert gaps[0] == 0.7 and gaps == sorted(gaps) and max(gaps) == PollPolicy().max_interval


def poll_times(phase: float, count: int = 14) -> list[float]:
    schedule = PollSchedule(PollPolicy(), phase=phase)
    times = [schedule.first_delay()]
    while len(times) < count:
        times.append(times[-1] + schedule.next_delay(elapsed=times[-1], progress=None))
    return times


def test_staggered_tasks_poll_out_of_step_and_their_brackets_tile_the_gap():
    policy = PollPolicy()
    plain = poll_times(0.0)
    assert plain[0] == policy.initial_delay and poll_times(0.99)[0] < plain[0]
    # each phase keeps the plain schedule's polls, moved earlier by phase × the gap before
    for phase in (0.25, 0.5, 0.9):
        moved = poll_times(phase)
        gaps_before = [policy.jitter * policy.initial_delay] + [
            b - a for a, b in itertools.pairwise(plain)
        ]
        assert moved == pytest.approx(
            [t - phase * g for t, g in zip(plain, gaps_before, strict=False)]
        )
    # four tasks from one client: golden-ratio phases, so the polls around 10 s spread over
    # the whole 0.9 s gap and the intersection of their brackets is about a quarter of it
    model = DurationModel(start=0.3)
    brackets = []
    for _ in range(4):
        times = poll_times(model.next_phase(), count=20)
        brackets.append((max(t for t in times if t < 10), min(t for t in times if t >= 10)))
    low, high = max(lo for lo, _ in brackets), min(hi for _, hi in brackets)
    assert low < 10 <= high and high - low < 0.4 * policy.max_interval
    # informed gaps are never staggered
    assert PollSchedule(policy, phase=0.9).next_delay(1.0, 0.5) == pytest.approx(1.0)


def _bracket(duration: float, schedule: PollSchedule) -> tuple[int, float, float | None, float]:
    """Polls a task of `duration` s by `schedule`: (polls, latency, last pending, first ready)."""
    at, polls, last = schedule.first_delay(), 1, None
    while at < duration:
        last, at, polls = at, at + schedule.next_delay(at, None), polls + 1
    return polls, at - duration, last, at


def _learned_run(
    draw: Callable[[random.Random], float],
    policy: PollPolicy,
    waves: int = 6,
    model: DurationModel | None = None,
) -> tuple[float, float]:
    """Waves of 8 tasks, each wave aimed by what the earlier ones taught: mean polls and
    median latency after the first (uninformed) wave."""
    rng = random.Random(7)
    model = model or DurationModel(start=0.3)
    polls, late = [], []
    for wave in range(waves):
        plan = model.costed_plan(
            request_cost=policy.request_cost,
            min_gap=policy.min_interval,
            latency_budget=policy.latency_budget,
        )
        window = model.window()
        seen = []
        for _ in range(8):
            schedule = PollSchedule(
                policy,
                plan=None if plan is None else plan.times,
                expected=None if plan is None else plan.polls,
                phase=model.next_phase(),
                window=window,
            )
            count, latency, last, ready = _bracket(draw(rng), schedule)
            seen.append((last, ready, schedule.teaches))
            if wave:
                polls.append(count)
                late.append(latency)
        for last, ready, teaches in seen:
            model.observe(last, ready, teaches=teaches)
    return statistics.mean(polls), statistics.median(late)


def _fixed_run(draw: Callable[[random.Random], float], gap: float) -> tuple[float, float]:
    rng = random.Random(7)
    durations = [draw(rng) for _ in range(48)][8:]
    polls = [math.ceil(d / gap) for d in durations]
    return statistics.mean(polls), statistics.median(
        n * gap - d for n, d in zip(polls, durations, strict=True)
    )


def test_learned_durations_spread_within_8_percent_cost_under_half_a_1s_pollers_requests():
    def draw(rng: random.Random) -> float:
        return 5.0 * rng.uniform(0.92, 1.08)

    polls, latency = _learned_run(draw, PollPolicy())
    fixed_polls, fixed_latency = _fixed_run(draw, 1.0)
    assert polls < 0.6 * fixed_polls and latency < 0.12 < fixed_latency


def test_widely_spread_durations_still_cost_fewer_requests_than_a_1s_poller_and_less_latency():
    def draw(rng: random.Random) -> float:  # lognormal, CV 0.3
        return 5.0 * math.exp(rng.gauss(0, math.sqrt(math.log(1.09))))

    polls, latency = _learned_run(draw, PollPolicy())
    fixed_polls, fixed_latency = _fixed_run(draw, 1.0)
    assert polls < fixed_polls and latency < fixed_latency
    # the one knob: a dearer request buys fewer polls, a cheaper one lower latency
    frugal, slow = _learned_run(draw, PollPolicy(request_cost=0.2))
    eager, fast = _learned_run(draw, PollPolicy(request_cost=0.01))
    assert frugal < polls < eager and fast < latency < slow


def test_a_fixed_duration_is_learned_to_one_poll_seen_within_tens_of_ms():
    def draw(rng: random.Random) -> float:
        return 10.0 + rng.uniform(0, 0.005)

    polls, latency = _learned_run(draw, PollPolicy())
    assert polls <= 1.1 and latency < 0.06
    # without a latency budget, requests are spent on latency no one would notice
    eager_polls, _ = _learned_run(draw, PollPolicy(latency_budget=0.0))
    assert polls < eager_polls <= 1.5


@pytest.mark.parametrize("explore", [PollPolicy().explore, 0.0])
def test_a_long_run_of_one_duration_stays_sharp_with_or_without_probes(explore: float):
    """Tasks that all follow one plan are seen Ready at it, which bounds durations from
    above only. Smoothed past the latest Ready, a one-poll plan crept later refit by
    refit; the model before spent 1.30 polls a task here without probes. The
    distribution now ends at the latest Ready seen."""

    def draw(rng: random.Random) -> float:
        return 0.5 + rng.uniform(0, 0.005)

    model = DurationModel(start=0.3)
    polls, latency = _learned_run(draw, PollPolicy(explore=explore), waves=120, model=model)
    low, high = model.window() or (0.0, 0.0)
    # one poll each, and a probe, which costs at most one more, for `explore` of them
    assert 0.4 < low < 0.5 < high < 0.55 and polls <= 1 + explore + 0.01 and latency < 0.04


@pytest.mark.parametrize("expected", [1.0, 2.0, 4.0])
def test_probes_are_priced_against_the_plan_and_spread_below_its_first_poll(expected: float):
    """A share `explore x expected polls` of tasks probe once, evenly between the window's
    low end and the first planned poll: above it the plan's own polls bracket durations;
    below it only probes can tell where they begin."""
    policy, window, plan = PollPolicy(), (4.6, 5.4), (5.2, 5.5)
    model = DurationModel(start=0.1)
    probes = []
    for _ in range(1000):
        schedule = PollSchedule(
            policy, plan=plan, expected=expected, phase=model.next_phase(), window=window
        )
        at, polls = schedule.first_delay(), []
        while at <= plan[-1]:  # a task slower than the plan: every planned poll, in order
            polls.append(at)
            at += schedule.next_delay(at, None)
        assert polls[0] <= plan[0] and set(plan) <= set(polls) and len(polls) <= len(plan) + 1
        probes += [t for t in polls if t not in plan]
    # a twentieth of the plan's expected polls: 5, 10 or 20 % of the tasks
    assert len(probes) / 1000 == pytest.approx(policy.explore * expected, abs=0.005)
    probes.sort()
    assert all(4.6 <= t <= 5.15 for t in probes)
    # evenly spread: no gap past twice the mean
    mean = 0.55 / len(probes)
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert probes[0] < 4.6 + 2 * mean and probes[-1] > 5.15 - 2 * mean and max(gaps) < 2 * mean
    # a deterministic policy never probes
    calm = PollPolicy(jitter=0.0)
    assert PollSchedule(calm, plan=plan, phase=0.01, window=window).first_delay() == plan[0]


def test_the_distribution_is_the_brackets_maximum_likelihood_fit():
    model = DurationModel()
    for lo, hi in [(1.4, 2.3), (1.9, 2.8), (1.2, 2.1), (0.0, 2.05)]:  # one duration, four views
        model.observe(lo, hi)
    low, high = model.window()
    assert 1.8 < low < high < 2.2  # their intersection (1.9, 2.05], smoothed a little
    assert model.estimate() == pytest.approx(1.975, abs=0.02)
    plan = model.plan(request_cost=0.05, min_gap=0.05)
    assert plan is not None and plan[0] > 1.85 and plan[-1] < 2.3
    # a task slower than every similar one: dense polls past the plan, then sparser
    schedule = PollSchedule(PollPolicy(), plan=plan, phase=0.5)
    assert schedule.first_delay() == pytest.approx(plan[0])
    assert schedule.next_delay(elapsed=plan[-1] + 0.01, progress=None) == 0.05
    assert schedule.next_delay(elapsed=plan[-1] + 0.06, progress=None) == pytest.approx(0.075)
    # a far plan is slept towards, not polled from the start
    assert PollSchedule(PollPolicy(), plan=(8.0, 9.0), phase=0.5).next_delay(3.0, None) == 5.0


def test_the_window_follows_the_durations_as_the_model_refreshes():
    """The window is found once per distribution, and found again when new durations
    refresh it: a model that learned 2 s tasks, then only 4 s ones, aims at 4 s."""
    model = DurationModel(window=8)
    for _ in range(8):
        model.observe(1.95, 2.0)
    first = model.window()
    # no task was seen Ready past 2.0 s, so none is expected to be
    assert first is not None and 1.8 < first[0] < first[1] <= 2.0
    assert model.window() == first
    for _ in range(8):
        model.observe(3.95, 4.0)
    low, high = model.window() or (0.0, 0.0)
    assert 3.8 < low < high <= 4.0


def test_fixed_policy_is_fixed():
    schedule = PollSchedule(PollPolicy.fixed(0.5), plan=(3.0,))
    assert schedule.first_delay() == 0.5
    assert {schedule.next_delay(elapsed=e, progress=0.9) for e in range(5)} == {0.5}


def test_retry_after_wins_and_backoff_is_capped():
    retry = RetryPolicy(random=lambda: 1.0)
    assert retry.delay(1, retry_after=7) == 7
    assert retry.delay(10) == retry.max_delay


def test_durations_are_learned_from_request_midpoints_progress_from_answers():
    clock = VirtualClock()
    c = core(clock)
    t0 = clock.monotonic()
    flow = c.submit(body())
    advance(flow, None)
    clock.advance(0.4)  # a slow answer: the server created the task somewhere in between
    polling = "https://api.us1.bfl.ai/v1/get_result?id=t"
    task = advance(flow, httpx.Response(200, json={"id": "t", "polling_url": polling})).value
    assert task.submitted_at == pytest.approx(t0 + 0.4)
    assert task.handled_at == pytest.approx(t0 + 0.2)
    flow = c.wait(task)
    step = advance(flow, None)
    while isinstance(step.effect, Sleep):
        clock.advance(step.effect.seconds)
        step = advance(flow, None)
    sent = clock.monotonic()
    clock.advance(0.1)
    ready = {"id": "t", "status": "Ready", "result": {"sample": "https://d/x"}}
    assert advance(flow, httpx.Response(200, json=ready)).effect is None
    [(low, high)] = c.durations.brackets()
    assert low == 0.0 and high == pytest.approx(sent + 0.05 - (t0 + 0.2))


def test_a_new_client_starts_from_the_durations_the_ledger_kept(tmp_path, png, monkeypatch):
    from flux_canny import _durations
    from flux_canny.fake import FakeBFL

    # each client's first poll phase is random; one phase in twenty costs a third poll, so
    # the phase is fixed here and the count is the planner's, not the dice's
    monkeypatch.setattr(_durations.random, "random", lambda: 0.5)

    fake = FakeBFL(clock=VirtualClock(), report_progress=False, task_duration=6.0)
    request = {"control_image": png, "prompt": "p", "finetune_id": "my-finetune"}

    def polls_of_first_task(client) -> int:
        before = fake.requests[("GET", "/v1/get_result")]
        client.wait(client.submit(**request))
        return fake.requests[("GET", "/v1/get_result")] - before

    with fake.client(ledger=tmp_path / "ledger.sqlite3") as first:
        uninformed = polls_of_first_task(first)
        for _ in range(4):
            polls_of_first_task(first)
    with fake.client(ledger=tmp_path / "ledger.sqlite3") as second:
        informed = polls_of_first_task(second)
        assert len(second.durations.brackets()) == 6  # five from the ledger, its own
    with fake.client(ledger=False) as forgetful:
        assert polls_of_first_task(forgetful) >= 8  # nothing learned: the plain backoff
    assert uninformed >= 8 and informed <= 2


def test_a_wait_timeout_also_bounds_the_retries_of_an_unreachable_poll_host():
    from flux_canny import APIConnectionError

    clock = VirtualClock()
    start = clock.monotonic()
    task = Task(id="t", polling_url="https://api.us1.bfl.ai/v1/get_result?id=t", submitted_at=start)
    flow = core(clock).wait(task, timeout=2.0)

    def drive() -> None:
        step = advance(flow, None)
        while True:
            if isinstance(step.effect, Sleep):
                clock.advance(step.effect.seconds)
                step = advance(flow, None)
            else:
                step = advance(flow, Failed(httpx.ConnectError("refused")))

    with pytest.raises(APIConnectionError) as raised:
        drive()
    # four retries back off 0.25 + 0.5 + 1 + 2 s: they stop at the 2 s the caller gave
    assert clock.monotonic() - start <= 2.0
    assert raised.value.task_id == "t"


def test_brackets_no_task_can_have_are_not_learned():
    model = DurationModel()
    for low, high in [(float("nan"), 2.0), (1.0, float("inf")), (-5.0, 2.0), (0.0, 90_000.0)]:
        model.observe(low, high)
    assert model.brackets() == [] and model.plan(request_cost=0.05, min_gap=0.05) is None
    model.observe(None, 2.0)
    assert model.brackets() == [(0.0, 2.0)]
