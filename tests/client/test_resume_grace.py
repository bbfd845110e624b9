"""A task resumed right after a crash is as young as the ledger says: another region's
store that does not know it yet is given the same grace as for a task just submitted,
so a rerun never takes a young task for gone (issue 28, break 2)."""

from __future__ import annotations

import httpx
import pytest
import respx
from flux_canny import Task, TaskNotFoundError
from flux_canny.ledger import Ledger

from tests.client.test_client_respx import POLL


@pytest.fixture
def api():
    with respx.mock(assert_all_called=False) as router:
        yield router


GONE = {"id": "t1", "status": "Task not found", "result": None}


def _ready():
    sample = "https://delivery-eu1.bfl.ai/results/t1/sample.png?sig=x"
    return httpx.Response(
        200, json={"id": "t1", "status": "Ready", "result": {"sample": sample, "seed": 1}}
    )


def _recorded(tmp_path, task_id="t1"):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    row = ledger.sending(name="job", scope=str(tmp_path))
    ledger.submitted(row, task_id, f"{POLL}?id={task_id}")
    return ledger


def test_a_young_resumed_task_not_yet_known_is_waited_for(face, api, tmp_path):
    ledger = _recorded(tmp_path)
    answers = iter([httpx.Response(404, json=GONE), httpx.Response(404, json=GONE)])
    api.get(POLL).mock(side_effect=lambda r: next(answers, _ready()))
    result = face(ledger=ledger).wait(Task(id="t1", polling_url=f"{POLL}?id=t1"))
    assert result.is_ready


def test_a_resumed_task_unknown_for_longer_than_the_grace_is_reported(face, api, tmp_path):
    ledger = _recorded(tmp_path)
    route = api.get(POLL).respond(404, json=GONE)
    with pytest.raises(TaskNotFoundError) as caught:
        face(ledger=ledger).wait(Task(id="t1", polling_url=f"{POLL}?id=t1"))
    assert caught.value.task_id == "t1" and route.call_count >= 2
