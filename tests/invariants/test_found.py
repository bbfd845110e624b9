"""Step sequences the thorough profile found, replayed by hand: each is quick and says
what it once broke."""

from __future__ import annotations

import sys
import time

import pytest

from . import test_promises
from .test_promises import Promises


@pytest.fixture
def state():
    machine = Promises()
    yield machine
    machine.teardown()


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9")
def test_a_run_held_up_by_slow_answers_is_killed_where_it_is(state, monkeypatch):
    """Two polls answered after 400 s: the client waits its read timeout on each, as it
    should, and never reaches the request chosen for the kill. It is killed where it is,
    and the next run accounts for its job."""
    monkeypatch.setattr(test_promises, "REACH_SECONDS", 3.0)
    state.first_jobs(named=True, also_unnamed=False)
    state.server_fails(count=2, delay=400.0, kind="slow", where="poll")
    started = time.monotonic()
    state.kill_9_batch(
        after=True, flags=[], nth=2, state="B", then_processed=False, where="download"
    )
    assert time.monotonic() - started < 30
    state.paid_once()
    state.run_batch(
        concurrency=1, flags=[], max_cost=None, state="B", timeout=None
    )  # resumes its task
    state.paid_once()
    assert state.accounts.created and len(state.accounts.created) == 1


def test_a_job_moved_to_another_endpoint_never_takes_the_old_endpoints_image(state):
    """A canny job's task outlives its run (--timeout 3 on 4 s tasks); the job is then
    moved to flux-2-pro. The rerun must not report `ok` with the canny task's image."""
    state.first_jobs(named=True, also_unnamed=False)
    state.server_timing(duration=4.0, lag=0.0)
    state.run_batch(concurrency=1, flags=[], max_cost=None, state="A", timeout=3.0)
    state.edit_endpoint(which=0, endpoint="flux-2-pro", said=False)
    state.run_batch(concurrency=1, flags=[], max_cost=None, state="A", timeout=None)
