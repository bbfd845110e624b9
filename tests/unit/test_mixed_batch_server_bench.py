"""The mock-server leg of the mixed-batch bench measures what it says: the server in its
own process gives each endpoint's tasks the jobs' durations, and its figures count every
task the real CLI ran (tiny durations here: the figures themselves are `make bench`'s)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import mixed_batch
import mixed_batch_server


def test_the_server_leg_serves_each_job_its_duration_and_counts_every_task(tmp_path) -> None:
    leg = mixed_batch_server._leg(6, tmp_path, scale=0.0125)  # tasks of 12 to 150 ms
    stats = leg["server"]
    assert stats["tasks_created"] == 6 and stats["left"] == 0
    for name in mixed_batch.MIX:
        served = stats["endpoints"][name]
        assert served["durations"] == [d for n, d in leg["jobs"] if n == name]
        # every task polled until seen Ready, each seen once
        assert len(served["polls"]) == len(served["ready_to_seen"]) == served["tasks"] == 2
        assert min(served["polls"]) >= 1
    records = [json.loads(line) for line in leg["client"]["out"].splitlines()]
    assert [r["status"] for r in records] == ["ok"] * 6
    assert sorted(p.name for p in (tmp_path / "out").glob("*.jpg")) == [
        f"j{i}.jpg" for i in range(6)
    ]
    row = mixed_batch_server._size_row(leg)
    assert row["jobs"] == 6 and row["rate_limited"] == 0
    assert row["requests"]["GET /results/…"] == 6  # one download a job
    assert set(row["endpoints"]) == set(mixed_batch.MIX)
