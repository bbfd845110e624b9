"""A task named by its id alone (`get_result("id")`, `wait("id")`, `resume("id")`) is polled
where it lives. With no base URL configured each operation has its own server (FLUX.2 on
BFL's global host, the finetunes on the US cluster), so the base URL is only a guess for
an id: the ledger's recorded polling URL comes first, then the server of the operation the
ledger says it was sent to; only an id nothing is known of is polled under the base URL."""

from __future__ import annotations

import pytest
from flux_canny._base import DEFAULT_BASE_URL
from flux_canny._operations import operations, origin

#: on BFL's global host, not the US cluster the base URL defaults to
OP = operations()["flux-2-pro"]
HOME = origin(OP)
SAMPLE = "https://delivery-eu1.bfl.ai/results/t1/sample.jpeg"
READY = {"id": "t1", "status": "Ready", "result": {"sample": SAMPLE, "seed": 7}}
UNKNOWN = {"id": "t1", "status": "Task not found"}


@pytest.fixture
def api():
    import respx

    with respx.mock(assert_all_called=False) as router:
        yield router


def _polls(api):
    """The operation's server answers Ready; the base URL's does not know the task."""
    assert HOME != DEFAULT_BASE_URL  # the case: the base URL is another server
    home = api.get(f"{HOME}/v1/get_result", params={"id": "t1"}).respond(200, json=READY)
    base = api.get(f"{DEFAULT_BASE_URL}/v1/get_result").respond(404, json=UNKNOWN)
    return home, base


@pytest.mark.parametrize("call", ["get_result", "wait"])
def test_a_bare_id_is_polled_at_the_polling_url_its_ledger_row_recorded(face, api, tmp_path, call):
    ledger = tmp_path / "ledger.db"
    api.post(HOME + OP.path).respond(
        200, json={"id": "t1", "polling_url": f"{HOME}/v1/get_result?id=t1"}
    )
    home, base = _polls(api)
    face(ledger=ledger).submit(endpoint=OP.name, prompt="a castle")
    result = getattr(face(ledger=ledger), call)("t1")  # a later run: the id alone
    assert result.status == "Ready" and result.sample == SAMPLE
    assert home.call_count == 1 and base.call_count == 0


def test_a_bare_id_without_a_polling_url_is_polled_on_its_operations_server(face, api, tmp_path):
    """A webhook submit is answered with no polling URL: the ledger knows the operation."""
    ledger = tmp_path / "ledger.db"
    api.post(HOME + OP.path).respond(
        200, json={"id": "t1", "status": "Pending", "webhook_url": "https://hooks.example/x"}
    )
    home, base = _polls(api)
    api.get(SAMPLE).respond(200, content=b"\xff\xd8\xff\xe0" + b"\0" * 64)
    face(ledger=ledger).submit(
        endpoint=OP.name, prompt="a castle", webhook_url="https://hooks.example/x"
    )
    image = face(ledger=ledger).resume("t1")
    assert image.task_id == "t1" and image.seed == 7
    assert home.call_count >= 1 and base.call_count == 0


def test_an_id_nothing_is_known_of_is_polled_under_the_base_url(face, api):
    home, base = _polls(api)
    result = face(ledger=False).get_result("t1")
    assert result.status == "Task not found"
    assert base.call_count == 1 and home.call_count == 0
