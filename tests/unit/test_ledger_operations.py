"""The ledger knows each task's endpoint: written with the submit, migrated in place for
ledgers of earlier versions (whose every row was the seed's), and the learned durations
kept per endpoint (a klein task and an Ultra one differ tenfold)."""

from __future__ import annotations

import contextlib
import sqlite3

import respx
from flux_canny import FluxCanny
from flux_canny._ledger_rows import SCHEMA, SCHEMA_VERSION
from flux_canny._operations import CANNY, operations, origin
from flux_canny.fake import VirtualClock
from flux_canny.ledger import Ledger, State

from ..conftest import KEY, make_image

SAMPLE = "https://delivery-eu1.bfl.ai/results/t/sample.png"


def _serve(api: respx.MockRouter, name: str, task_id: str) -> str:
    """The endpoint's submit and a Ready poll on its own host; returns the host."""
    op = operations()[name]
    host = origin(op)
    poll = f"{host}/v1/get_result?id={task_id}"
    api.post(host + op.path).respond(200, json={"id": task_id, "polling_url": poll})
    api.get(poll).respond(
        200, json={"id": task_id, "status": "Ready", "result": {"sample": SAMPLE}}
    )
    return host


def test_each_submit_is_written_with_its_endpoint_and_the_server_it_went_to(tmp_path, png):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with respx.mock(assert_all_called=False) as api, FluxCanny(api_key=KEY, ledger=ledger) as f:
        pro = _serve(api, "flux-2-pro", "t-pro")
        canny = _serve(api, CANNY, "t-canny")
        f.submit(endpoint="flux-2-pro", prompt="a castle", input_image=png)
        f.submit(control_image=png, prompt="a castle", finetune_id="ft")
    rows = {row.task_id: row for row in ledger.entries()}
    assert (rows["t-pro"].operation, rows["t-pro"].base_url) == ("flux-2-pro", pro)
    assert (rows["t-canny"].operation, rows["t-canny"].base_url) == (CANNY, canny)
    assert pro == "https://api.bfl.ai" and canny == "https://api.us1.bfl.ai"


def test_a_ledger_of_an_earlier_version_gains_the_column_and_its_rows_are_the_seeds(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:  # as version 1 left it
        db.executescript(SCHEMA.replace(",\n    operation TEXT", ""))
        db.execute(
            "INSERT INTO tasks (state, task_id, polling_url, base_url, created_at, updated_at) "
            "VALUES ('submitted', 't0', 'https://api.us1.bfl.ai/v1/get_result?id=t0', "
            "'https://api.us1.bfl.ai', 1.0, 1.0)"
        )
        db.execute("PRAGMA user_version = 1")
        db.commit()
        assert "operation" not in {r[1] for r in db.execute("PRAGMA table_info(tasks)")}
    ledger = Ledger(path)
    (row,) = ledger.entries()
    assert (row.task_id, row.operation) == ("t0", CANNY)
    ledger.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2


def test_durations_are_kept_and_read_per_endpoint(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    base = "https://api.bfl.ai"
    for task_id, name, took in (("k", "flux-2-klein-4b", 1.0), ("u", "flux-pro-1.1-ultra", 10.0)):
        row = ledger.sending(base_url=base, operation=name, prompt="p")
        ledger.submitted(row, task_id, f"{base}/v1/get_result?id={task_id}")
        ledger.task_state(task_id, State.READY, duration_low=took - 0.1, duration_high=took)
    assert ledger.durations(base, operation="flux-2-klein-4b") == [(0.9, 1.0)]
    assert ledger.durations(base, operation="flux-pro-1.1-ultra") == [(9.9, 10.0)]
    assert len(ledger.durations(base)) == 2  # unnamed: every endpoint, as before


def test_a_task_of_another_endpoint_teaches_nothing_to_the_seeds_durations(tmp_path):
    clock = VirtualClock()
    with (
        respx.mock(assert_all_called=False) as api,
        FluxCanny(api_key=KEY, ledger=tmp_path / "l.sqlite3", clock=clock) as flux,
    ):
        _serve(api, "flux-2-klein-4b", "t-k")
        api.get(SAMPLE).respond(200, content=make_image(), headers={"content-type": "image/png"})
        flux.generate(endpoint="flux-2-klein-4b", prompt="p")
        assert flux.durations.brackets() == []  # the seed's model: klein's are its own
        (row,) = flux.ledger.entries()  # type: ignore[union-attr]
        assert (row.operation, row.duration_high is not None) == ("flux-2-klein-4b", True)


def test_resume_finishes_a_task_of_any_endpoint(tmp_path):
    with respx.mock(assert_all_called=False) as api, FluxCanny(api_key=KEY, ledger=False) as f:
        _serve(api, "flux-kontext-max", "t-k")
        api.get(SAMPLE).respond(200, content=make_image(), headers={"content-type": "image/png"})
        task = f.submit(endpoint="flux-kontext-max", prompt="p")
        image = f.resume(task)
        hosts = [call.request.url.host for call in api.calls]
    assert image.data.startswith(b"\x89PNG")
    assert hosts == ["api.bfl.ai", "api.bfl.ai", "delivery-eu1.bfl.ai"]
