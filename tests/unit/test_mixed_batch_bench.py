"""The mixed-batch bench measures what it says: each task takes its job's duration (a
refactor of the fake once left every task at the default, and the figures looked fine)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from flux_canny import PollPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import mixed_batch


def test_the_bench_serves_each_job_its_own_duration() -> None:
    row = asyncio.run(mixed_batch._run(6, PollPolicy.fixed(1.0)))
    # two 12 s tasks among six: the batch cannot end before the longer one did
    assert row["makespan"] >= mixed_batch.MIX["flux-pro-1.1-ultra"] * (1 - mixed_batch.SPREAD)
    assert row["makespan"] >= row["ideal"]
    for name, seconds in mixed_batch.MIX.items():
        # a fixed 1 s poller polls a task about once a second of its duration
        assert row["endpoints"][name]["polls_per_task"] >= seconds
