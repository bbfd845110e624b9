"""The ledger on a real PostgreSQL server: the same rules as on SQLite, across processes
that share nothing but the database."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
import respx
from flux_canny import ConfigurationError, FluxCanny
from flux_canny.cli import main
from flux_canny.ledger import ClaimKind, Ledger, LedgerError, State

from ..conftest import BASE, KEY

SUBMIT = f"{BASE}/v1/flux-pro-1.0-canny-finetuned"


def _claim(ledger, name="job", request_hash="h1", **options):
    return ledger.claim("scope", name, request_hash=request_hash, base_url=BASE, **options)


def _wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within 30 s"
        time.sleep(0.05)


def test_the_library_writes_ahead_to_the_database_named_by_the_environment(
    pg_url, png, monkeypatch
):
    monkeypatch.setenv("FLUX_CANNY_LEDGER", pg_url)
    seen = []

    def answer(request):
        with Ledger(pg_url) as other:  # another worker's view, mid-request
            seen.extend((e.state, e.task_id) for e in other.entries())
        return httpx.Response(200, json={"id": "t1", "polling_url": f"{BASE}/v1/get_result?id=t1"})

    with respx.mock(assert_all_called=False) as api, FluxCanny(api_key=KEY) as flux:
        api.post(SUBMIT).mock(side_effect=answer)
        flux.submit(control_image=png, prompt="a castle", finetune_id="ft")
        assert flux.ledger.where == pg_url
    assert seen == [("sending", None)]
    with Ledger(pg_url) as other:
        (row,) = other.entries()
    assert (row.state, row.task_id, row.operation) == (
        "submitted",
        "t1",
        "flux-pro-1.0-canny-finetuned",
    )
    with psycopg.connect(pg_url) as conn:  # the key is never written there
        dump = conn.execute("SELECT string_agg(t::text, '') FROM tasks t").fetchone()[0]
    assert KEY not in dump


def _claims(url, name, count):
    with Ledger(url) as ledger:
        return [_claim(ledger, f"{name}-{i}").kind for i in range(count)]


def test_workers_claiming_the_same_jobs_at_once_each_get_a_job_once(pg_url):
    workers = [Ledger(pg_url) for _ in range(6)]  # all alive until every claim is made
    with ThreadPoolExecutor(6) as pool:
        kinds = list(pool.map(lambda w: [_claim(w, f"job-{i}").kind for i in range(40)], workers))
    for worker in workers:
        worker.close()
    for i in range(40):
        column = [kinds[w][i] for w in range(6)]
        assert column.count(ClaimKind.NEW) == 1, column
        assert column.count(ClaimKind.BUSY) == 5


def _send_and_die(url, ready):
    ledger = Ledger(url, lease=1.0)
    claimed = _claim(ledger, "in-flight")
    ledger.sending(claimed.entry.row)
    _claim(ledger, "only-claimed")
    ready.set()
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_workers_lease_lapses_its_sends_turn_uncertain_once_and_its_claims_free(pg_url):
    ready = multiprocessing.get_context("spawn").Event()
    worker = multiprocessing.get_context("spawn").Process(
        target=_send_and_die, args=(pg_url, ready)
    )
    worker.start()
    worker.join(60)
    assert worker.exitcode == -signal.SIGKILL
    with Ledger(pg_url) as one, Ledger(pg_url) as two:
        assert _claim(one, "in-flight").kind == ClaimKind.BUSY  # its lease still runs
        time.sleep(1.2)
        with ThreadPoolExecutor(2) as pool:
            reaped = sorted(pool.map(lambda ledger: ledger.reap(), (one, two)))
        assert reaped == [0, 1]  # exactly once
        (sent,) = one.entries(states="uncertain")
        assert "ended before its answer arrived" in sent.error
        assert _claim(two, "in-flight").kind == ClaimKind.UNCERTAIN  # never sent again
        assert _claim(two, "only-claimed").kind == ClaimKind.NEW  # never sent: free


def test_the_fleets_active_tasks_never_exceed_the_cap_and_a_dead_workers_come_back(pg_url):
    workers = [Ledger(pg_url, lease=1.0) for _ in range(3)]
    taken = [w.take_slot(24) for w in workers for _ in range(9)]
    assert sum(slot is not None for slot in taken) == 24
    assert all(w.take_slot(24) is None for w in workers)
    workers[0].give_slot(next(s for s in taken if s))
    assert workers[1].take_slot(24) is not None
    assert workers[2].take_slot(24) is None
    workers[0]._store.owner.stop()  # stops renewing, as a worker stopped dead would
    time.sleep(1.2)
    assert workers[1].take_slot(24) is not None  # the dead worker's slots are free
    for w in workers:
        w.close()


def test_a_worker_whose_lease_lapsed_sends_nothing_more(pg_url):
    with Ledger(pg_url, lease=1.0) as slow, Ledger(pg_url) as other:
        claimed = _claim(slow, "job")
        slow._store.owner.stop()  # a worker paused past its lease (a stopped VM)
        time.sleep(1.2)
        other.reap()
        with pytest.raises(LedgerError, match="lease lapsed"):
            slow.sending(claimed.entry.row)
        assert _claim(other, "job").kind == ClaimKind.NEW  # nothing was sent for it


def test_learned_durations_are_shared_by_the_fleet(pg_url):
    with Ledger(pg_url) as one, Ledger(pg_url) as two:
        row = one.sending(None, base_url=BASE, operation="flux-2-pro")
        one.submitted(row, "t1", None)
        one.task_state("t1", State.READY, duration_low=3.0, duration_high=4.0)
        assert two.durations(BASE, operation="flux-2-pro") == [(3.0, 4.0)]


def test_a_password_in_the_connection_string_is_never_shown(postgres_server):
    url = f"postgresql://flux:s3cret-pw@127.0.0.1:{postgres_server.port}/no_such_db"
    ledger = Ledger(url)
    assert "s3cret-pw" not in repr(ledger)
    with pytest.raises(LedgerError) as caught:
        ledger.entries()
    assert "s3cret-pw" not in str(caught.value)
    assert "***" in str(caught.value)
    assert "database server is running" in str(caught.value)


def test_a_password_in_the_query_string_is_never_shown_and_tasks_names_the_database(
    postgres_server, monkeypatch, capsys
):
    """libpq also takes `?password=`; and `flux-canny tasks` on an empty shared ledger says
    which database it read, not a local file it never opened."""
    url = f"postgresql://flux@127.0.0.1:{postgres_server.port}/no_such_db?password=s3cret-pw"
    ledger = Ledger(url)
    assert "s3cret-pw" not in repr(ledger) and "password=***" in repr(ledger)
    with pytest.raises(LedgerError) as caught:
        ledger.entries()
    assert "s3cret-pw" not in str(caught.value)

    good = f"postgresql://flux@127.0.0.1:{postgres_server.port}/postgres?password=s3cret-pw"
    monkeypatch.setenv("FLUX_CANNY_LEDGER", good)
    capsys.readouterr()
    assert main(["tasks"]) == 0
    said = "".join(capsys.readouterr())
    assert f"127.0.0.1:{postgres_server.port}/postgres" in said, said
    assert "s3cret-pw" not in said and "ledger.sqlite3" not in said, said


def test_a_postgres_ledger_without_psycopg_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "flux_canny._ledger_pg", raising=False)
    with pytest.raises(ConfigurationError, match=r"flux-canny\[postgres\]"):
        Ledger("postgresql://flux@127.0.0.1:1/x")


def test_the_schema_is_migrated_once_and_a_newer_one_is_refused(pg_url):
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: _claims(pg_url, "x", 1), range(4)))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM flux_canny_schema")]
        assert versions == [1]
        conn.execute("INSERT INTO flux_canny_schema (version) VALUES (99)")
    with pytest.raises(LedgerError, match="upgrade flux-canny"):
        Ledger(pg_url).entries()


def test_what_could_not_be_written_while_the_database_was_away_is_written_first_when_back(
    postgres_server,
):
    """A task paid for and fetched while the database was away: its id and its state are
    written before anything else once it answers, so another worker finds it done, not
    `sending` (uncertain) or `submitted` (fetched again)."""
    url = postgres_server.database()
    with Ledger(url) as worker, Ledger(url) as other:
        row = _claim(worker, "job").entry.row
        worker.sending(row)
        postgres_server.stop()
        try:
            with pytest.raises(LedgerError, match="task t1 was submitted"):
                worker.submitted(row, "t1", None)
            with pytest.raises(LedgerError, match="database server is running"):
                worker.task_state("t1", State.DOWNLOADED)
            with pytest.raises(LedgerError, match="submitted but not recorded: task t1"):
                _claim(worker, "next")
        finally:
            postgres_server.start()
        assert _claim(worker, "next").kind == ClaimKind.NEW
        (found,) = [e for e in other.entries() if e.name == "job"]
        assert (found.state, found.task_id) == ("downloaded", "t1")
