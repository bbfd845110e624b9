"""The ledger: written before the POST, claims that exclude, rows never lost."""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import multiprocessing
import os
import sqlite3
import stat
import subprocess
import sys
import time

import httpx
import pytest
import respx
from flux_canny import FluxCanny, SubmitUncertainError
from flux_canny.fake import FakeBFL, VirtualClock
from flux_canny.ledger import ClaimKind, Ledger, LedgerError, State

from ..conftest import BASE, KEY

SUBMIT = f"{BASE}/v1/flux-pro-1.0-canny-finetuned"
ARGS = {"prompt": "a castle", "finetune_id": "my-finetune"}


def _claim(ledger, name="job", request_hash="h1", **options):
    return ledger.claim("scope", name, request_hash=request_hash, base_url=BASE, **options)


def test_the_row_is_written_before_the_post_leaves(tmp_path, png):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    seen = []

    def answer(request):
        (row,) = Ledger(ledger.path).entries()  # another reader, mid-request
        seen.append((row.state, row.task_id, row.prompt))
        return httpx.Response(200, json={"id": "t1", "polling_url": f"{BASE}/v1/get_result?id=t1"})

    with respx.mock(assert_all_called=False) as api, FluxCanny(api_key=KEY, ledger=ledger) as flux:
        api.post(SUBMIT).mock(side_effect=answer)
        task = flux.submit(control_image=png, **ARGS)
    assert seen == [("sending", None, "a castle")]
    (row,) = ledger.entries()
    assert (row.state, row.task_id, row.polling_url) == ("submitted", "t1", task.polling_url)
    assert stat.S_IMODE(ledger.path.stat().st_mode) == 0o600
    assert KEY.encode() not in b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_the_row_is_on_the_disk_before_the_post_leaves_and_a_failed_sync_pays_nothing(
    tmp_path, png, monkeypatch
):
    """SQLite commits without syncing (so writers' syncs overlap); the ledger syncs the
    WAL itself before it returns. A power cut after the POST must still find the row, and
    a disk that cannot sync must stop the submit before it is paid for."""
    from flux_canny import LedgerError, _ledger_db

    ledger = Ledger(tmp_path / "ledger.sqlite3")
    events = []
    synced = _record_syncs(monkeypatch)

    def answer(request):
        events.extend(("sync", path) for path in synced)
        synced.clear()
        events.append(("post", None))
        return httpx.Response(200, json={"id": "t1", "polling_url": f"{BASE}/v1/get_result?id=t1"})

    with respx.mock(assert_all_called=False) as api, FluxCanny(api_key=KEY, ledger=ledger) as flux:
        route = api.post(SUBMIT).mock(side_effect=answer)
        flux.submit(control_image=png, **ARGS)
        events.extend(("sync", path) for path in synced)
        wal, folder = f"{ledger.path}-wal", str(tmp_path)
        # a connection's first write also syncs the folder, which holds the new WAL's entry
        assert events == [("sync", wal), ("sync", folder), ("post", None), ("sync", wal)]

        def broken(fd):
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(_ledger_db, "_datasync", broken)
        with pytest.raises(LedgerError, match="Input/output error"):
            flux.submit(control_image=png, **ARGS)
        assert route.call_count == 1  # the second submit was never sent
    # and its row says so (a row left at sending would be reported uncertain)
    states = [(e.state, e.error) for e in Ledger(ledger.path).entries()]
    assert ("rejected", "never sent: the task ledger could not be synced to the disk") in states


def _record_syncs(monkeypatch):
    """The files and folders the ledger syncs from now on, in order."""
    from flux_canny import _files, _ledger_db

    synced = []
    for module, name in ((_ledger_db, "_datasync"), (_files, "full_sync")):
        real = getattr(module, name)

        def recorded(fd, real=real):
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
            real(fd)

        monkeypatch.setattr(module, name, recorded)
    return synced


def test_a_relative_ledger_path_means_one_file_whatever_the_working_folder(tmp_path, monkeypatch):
    """`FluxCanny(ledger="tasks.sqlite3")`, then a chdir: the WAL's sync looked for the
    file in the new folder, found none and synced nothing; a reopened connection (after
    a fork, say) would have begun a second ledger there, claims and all."""
    monkeypatch.chdir(tmp_path)
    ledger = Ledger("tasks.sqlite3")
    ledger.submitted(ledger.sending(prompt="a"), "t1", None)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    synced = _record_syncs(monkeypatch)
    ledger.submitted(ledger.sending(prompt="b"), "t2", None)
    assert synced == [f"{tmp_path / 'tasks.sqlite3'}-wal"] * 2
    ledger.close()
    ledger.submitted(ledger.sending(prompt="c"), "t3", None)  # opened again
    ledger.close()
    assert list(elsewhere.iterdir()) == []
    with Ledger(tmp_path / "tasks.sqlite3") as same:
        assert {e.task_id for e in same.entries()} == {"t1", "t2", "t3"}


def test_a_symlinked_ledger_is_synced_where_sqlite_keeps_its_wal(tmp_path, monkeypatch):
    """SQLite keeps the WAL beside the link's target; the sync looked beside the link."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").mkdir()
    Ledger(tmp_path / "real" / "ledger.sqlite3").close()
    (tmp_path / "link" / "ledger.sqlite3").symlink_to(tmp_path / "real" / "ledger.sqlite3")
    synced = _record_syncs(monkeypatch)
    with Ledger(tmp_path / "link" / "ledger.sqlite3") as linked:
        linked.submitted(linked.sending(prompt="a"), "t1", None)
    wal = f"{tmp_path / 'real' / 'ledger.sqlite3'}-wal"
    assert synced == [wal, str(tmp_path / "real"), wal]


def test_a_wal_deleted_under_the_ledger_stops_the_next_submit(tmp_path, png):
    """Its writes would go on into the deleted file, on no disk: refused, not skipped."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.entries(1)
    with respx.mock(assert_all_called=False) as api, FluxCanny(api_key=KEY, ledger=ledger) as flux:
        route = api.post(SUBMIT).respond(200, json={"id": "t", "polling_url": "x"})
        flux.submit(control_image=png, **ARGS)
        (tmp_path / "ledger.sqlite3-wal").unlink()
        with pytest.raises(LedgerError, match="cannot sync"):
            flux.submit(control_image=png, **ARGS)
        assert route.call_count == 1


def test_a_lost_answer_leaves_an_uncertain_row_and_a_refusal_a_rejected_one(tmp_path, png):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with respx.mock() as api, FluxCanny(api_key=KEY, ledger=ledger) as flux:
        api.post(SUBMIT).mock(side_effect=[httpx.ReadTimeout("slow"), httpx.Response(401)])
        with pytest.raises(SubmitUncertainError):
            flux.submit(control_image=png, **ARGS)
        with pytest.raises(Exception, match="refused"):
            flux.submit(control_image=png, **ARGS)
    refused, lost = ledger.entries()
    assert lost.state == "uncertain" and "ReadTimeout" in lost.error
    assert refused.state == "rejected" and "401" in refused.error


def test_ctrl_c_during_the_post_is_uncertain_and_the_flow_is_closed(tmp_path, png):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with respx.mock(assert_all_called=False) as api, FluxCanny(api_key=KEY, ledger=ledger) as flux:

        def ctrl_c(request):
            raise KeyboardInterrupt

        api.post(SUBMIT).mock(side_effect=ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            flux.submit(control_image=png, **ARGS)
    (row,) = ledger.entries()
    assert row.state == "uncertain" and "KeyboardInterrupt" in row.error


def test_a_generation_moves_its_row_to_downloaded(tmp_path, png):
    fake = FakeBFL(clock=VirtualClock())
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with fake.client(ledger=ledger) as flux:
        image = flux.generate(control_image=png, **ARGS)
    (row,) = ledger.entries()
    assert (row.state, row.task_id, row.seed) == ("downloaded", image.task_id, image.seed)
    fake.queue_outcomes("Content Moderated")
    with fake.client(ledger=ledger) as flux, pytest.raises(Exception, match="Moderated"):
        flux.generate(control_image=png, **ARGS)
    assert ledger.entries()[0].state == "moderated"


def test_claims_new_done_changed_and_resubmitted_only_on_a_word(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    first = _claim(ledger, output=str(tmp_path / "job.png"))
    assert first.kind == ClaimKind.NEW and first.entry.state == "claimed"
    ledger.sending(first.entry.row)
    ledger.submitted(first.entry.row, "t1", "https://api.us1.bfl.ai/v1/get_result?id=t1")
    # a task exists: any rerun resumes it, never submits
    assert _claim(ledger).kind == ClaimKind.RESUME
    ledger.task_state("t1", State.DOWNLOADED, output=str(tmp_path / "job.png"))
    (tmp_path / "job.png").write_bytes(b"image")
    assert _claim(ledger).kind == ClaimKind.DONE
    assert _claim(ledger, request_hash="h2").kind == ClaimKind.CHANGED
    again = _claim(ledger, request_hash="h2", regenerate_changed=True)
    assert again.kind == ClaimKind.NEW and again.replaced.task_id == "t1"
    # expired or not found is absence of evidence: looked for again, paid only on the
    # user's word
    ledger.sending(again.entry.row)
    ledger.submitted(again.entry.row, "t2", None)
    ledger.task_state("t2", State.EXPIRED)
    assert _claim(ledger, request_hash="h2").kind == ClaimKind.RESUME
    ledger.task_state("t2", State.NOT_FOUND)
    assert _claim(ledger, request_hash="h2", resubmit_expired=True).kind == ClaimKind.RESUME
    third = _claim(ledger, request_hash="h2", resubmit_not_found=True)
    assert third.kind == ClaimKind.NEW and third.replaced.task_id == "t2"
    # the server's positive word that a task ended without an image frees its job
    ledger.sending(third.entry.row)
    ledger.submitted(third.entry.row, "t3", None)
    ledger.task_state("t3", State.MODERATED)
    fourth = _claim(ledger, request_hash="h2")
    assert fourth.kind == ClaimKind.NEW and fourth.replaced.task_id == "t3"


def test_a_live_owner_excludes_and_a_dead_one_leaves_uncertainty(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    mine, theirs = Ledger(path), Ledger(path)
    claim = _claim(theirs)
    theirs.sending(claim.entry.row)
    assert _claim(mine).kind == ClaimKind.BUSY  # the other process is mid-POST
    theirs.close()  # it dies without a word (its flock goes, as with kill -9)
    dead = _claim(mine)
    assert dead.kind == ClaimKind.UNCERTAIN and dead.entry.state == "uncertain"
    assert _claim(mine).kind == ClaimKind.UNCERTAIN  # asked again: still not guessed
    forced = _claim(mine, resubmit_uncertain=True)
    assert forced.kind == ClaimKind.NEW and forced.replaced.state == "uncertain"
    assert [e.state for e in mine.entries()][-1] == "abandoned"


def test_a_claim_of_a_process_that_died_before_sending_is_free_again(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    mine, theirs = Ledger(path), Ledger(path)
    _claim(theirs)
    theirs.close()
    assert _claim(mine).kind == ClaimKind.NEW
    assert len(mine.entries()) == 0  # claims are not attempts


_HOLD_A_CLAIM = """
import sys, time
from flux_canny.ledger import Ledger
ledger = Ledger(sys.argv[1])
claim = ledger.claim("scope", "job", request_hash="h", base_url="b")
ledger.sending(claim.entry.row)
print("sending", flush=True)
time.sleep(60)
"""


def test_liveness_is_seen_across_processes_and_kill_9(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    other = subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_CLAIM, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout.readline().strip() == "sending"
        mine = Ledger(path)
        assert _claim(mine).kind == ClaimKind.BUSY
        other.kill()  # SIGKILL: no handler, no cleanup
        other.wait(10)
        assert _claim(mine).kind == ClaimKind.UNCERTAIN
    finally:
        other.kill()
        other.wait(10)


def test_prune_forgets_only_finished_rows(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    for state in ("downloaded", "submitted", "uncertain", "moderated"):
        row = ledger.sending(prompt=state)
        ledger.submitted(row, f"t-{state}", None)
        ledger.task_state(f"t-{state}", State(state))
    assert ledger.prune(older_than=0) == 2
    assert {e.state for e in ledger.entries()} == {"submitted", "uncertain"}


def test_the_old_journal_is_read_once(tmp_path):
    old = tmp_path / "tasks.jsonl"
    records = [
        {"id": "a", "polling_url": "u", "base_url": BASE, "status": "submitted"},
        {"id": "b", "status": "submitted"},
        {"id": "b", "status": "ready", "output": "/x.png"},
    ]
    old.write_text("\n".join(json.dumps(r) for r in records) + "\n" + '{"id": "cut')
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    assert {(e.task_id, e.state) for e in ledger.entries()} == {
        ("a", "submitted"),
        ("b", "downloaded"),
    }
    assert not old.exists() and (tmp_path / "tasks.jsonl.imported").exists()


def test_an_unusable_ledger_refuses_before_any_request(tmp_path, png):
    (tmp_path / "file").write_text("")
    with respx.mock(assert_all_called=False) as api:
        route = api.post(SUBMIT).respond(200, json={"id": "t", "polling_url": "x"})
        unusable = tmp_path / "file" / "ledger.sqlite3"
        with (
            FluxCanny(api_key=KEY, ledger=unusable) as flux,
            pytest.raises(Exception, match="FLUX_CANNY_STATE_DIR") as caught,
        ):
            flux.submit(control_image=png, **ARGS)
        assert route.call_count == 0
    from flux_canny import FluxCannyError

    assert isinstance(caught.value, FluxCannyError)


def _writer(path, worker, count, prompt):
    ledger = Ledger(path)
    for i in range(count):
        row = ledger.sending(prompt=prompt, finetune_id=f"{worker}")
        ledger.submitted(row, f"{worker}-{i}", "https://api.us1.bfl.ai/v1/get_result")
    ledger.close()


def test_writers_take_turns_on_a_private_lock_and_write_without_one(tmp_path):
    """The turn only orders writers (SQLite keeps the writes whole), so a lock file that
    cannot be made must cost nothing but the ordering."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.submitted(ledger.sending(prompt="a"), "t1", None)
    assert stat.S_IMODE((tmp_path / "ledger.sqlite3.lock").stat().st_mode) == 0o600
    ledger.close()

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "ledger.sqlite3.lock").mkdir()  # cannot be opened as a file
    other = Ledger(tmp_path / "other" / "ledger.sqlite3")
    other.submitted(other.sending(prompt="b"), "t2", None)
    assert [(e.state, e.task_id) for e in Ledger(other.path).entries()] == [("submitted", "t2")]


def test_a_ledger_from_an_earlier_version_gains_the_new_columns(tmp_path):
    from flux_canny._ledger_rows import ADDED_COLUMNS, SCHEMA

    path = tmp_path / "ledger.sqlite3"
    old = SCHEMA
    for column in ADDED_COLUMNS:
        old = old.replace(f",\n    {column} REAL", "")
    assert "duration" not in old
    with contextlib.closing(sqlite3.connect(path)) as db:  # the first version's: no WAL yet
        db.executescript(old)
    ledger = Ledger(path)
    ledger.submitted(ledger.sending(prompt="p", base_url=BASE), "t", None)
    ledger.task_state("t", duration_low=1.5, duration_high=2.0)
    assert ledger.durations(BASE) == [(1.5, 2.0)]
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_opening_a_ready_ledger_does_not_wait_for_the_writers_turn(tmp_path):
    """`flux-canny tasks` beside a running batch: eight processes starting together each
    held the turn 1.2-6.6 ms just to look, and every writer waited behind them."""
    import fcntl
    import threading

    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as first:
        first.submitted(first.sending(prompt="p"), "t", None)
    with open(f"{path}.lock", "rb+") as turn:  # a writer in its turn, for as long as it likes
        fcntl.flock(turn, fcntl.LOCK_EX)
        released = threading.Event()
        release = threading.Timer(10, lambda: (released.set(), fcntl.flock(turn, fcntl.LOCK_UN)))
        release.start()
        try:
            with Ledger(path) as reader:
                assert [e.task_id for e in reader.entries()] == ["t"]
            assert not released.is_set()
        finally:
            release.cancel()
            release.join()


_OTHER_PROCESS_COUNTS = (
    "import sys; from flux_canny.ledger import Ledger\n"
    "with Ledger(sys.argv[1]) as ledger: print(len(ledger.entries()))"
)


def _seen_by_another_process(path):
    counted = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS_COUNTS, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(counted.stdout)


def test_a_second_ledger_in_one_process_keeps_the_rows_seen_by_others(tmp_path):
    """Two clients in one program (or the CLI opening the ledger twice) each open the
    file. Opening it with a raw descriptor and closing that dropped every POSIX lock the
    process held on it (close() does that), so the next process to close the ledger, a
    `flux-canny tasks` in another terminal, took itself for the last user and deleted
    the WAL. The first client went on writing into the deleted file: its rows seen by
    no other process (one claiming the same jobs would pay again) and gone with a crash."""
    path = tmp_path / "ledger.sqlite3"
    first = Ledger(path)
    first.submitted(first.sending(prompt="a"), "t0", None)
    second = Ledger(path)
    second.entries(1)
    assert _seen_by_another_process(path) == 1  # it opens the ledger and closes it
    for i in range(10):
        first.submitted(first.sending(prompt="a"), f"t{i + 1}", None)
    assert _seen_by_another_process(path) == 11
    first.close()
    second.close()


@pytest.mark.parametrize(("writers", "tasks"), [(8, 500)])
def test_concurrent_writers_lose_no_row(tmp_path, writers, tasks):
    path = tmp_path / "ledger.sqlite3"
    prompt = "ein Schloß im Nebel, 城 " * 14  # 300 characters, not ASCII
    context = multiprocessing.get_context("fork")
    procs = [
        context.Process(target=_writer, args=(path, w, tasks, prompt[:300])) for w in range(writers)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    entries = Ledger(path).entries()
    assert len(entries) == writers * tasks
    assert {e.task_id for e in entries} == {
        f"{w}-{i}" for w in range(writers) for i in range(tasks)
    }
    assert {e.state for e in entries} == {"submitted"} and entries[0].prompt == prompt[:300]
    # that none starves depends on the scheduler: `make bench` measures it (most rows behind)


# -- fork: a worker forked from a process holding the ledger (multiprocessing's default on
# Linux before Python 3.14) --------------------------------------------------------------------


def _forked_writer(ledger_or_path, started, tasks):
    ledger = ledger_or_path if isinstance(ledger_or_path, Ledger) else Ledger(ledger_or_path)
    for i in range(tasks):
        ledger.submitted(ledger.sending(prompt="p"), f"forked-{i}", None)
        if i == 2:
            started.set()
    ledger.close()


@pytest.mark.parametrize("parent_holds", ["its own", "the parent's", "one dropped unclosed"])
def test_a_forked_worker_loses_no_row_when_its_parent_closes_the_ledger(tmp_path, parent_holds):
    """SQLite's locks are per process and its record of them lives in memory: a connection
    carried across fork made the child's writes invisible to the others' locking, and the
    parent's close then deleted the WAL under the child (44 of 50 rows gone, no error).
    A Ledger dropped without close() left its connection for the garbage collector, which
    closed it whenever it ran: the same loss, later."""
    path = tmp_path / "ledger.sqlite3"
    parent = Ledger(path)
    parent.submitted(parent.sending(prompt="mine"), "parent", None)  # open, as a client is
    if parent_holds == "one dropped unclosed":
        del parent
    context = multiprocessing.get_context("fork")
    started = context.Event()
    worker = context.Process(
        target=_forked_writer,
        args=(parent if parent_holds == "the parent's" else path, started, 50),
    )
    worker.start()
    assert started.wait(30)
    if parent_holds == "one dropped unclosed":
        gc.collect()
    else:
        parent.close()
    worker.join(60)
    assert worker.exitcode == 0
    with Ledger(path) as after:
        tasks = {e.task_id for e in after.entries()}
    assert tasks == {"parent"} | {f"forked-{i}" for i in range(50)}


def test_a_forked_worker_writes_as_its_own_owner_and_leaves_the_parent_alive(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    parent = Ledger(path)
    mine = _claim(parent, "parent's job")
    parent.sending(mine.entry.row)
    context = multiprocessing.get_context("fork")
    started = context.Event()
    worker = context.Process(target=_forked_writer, args=(parent, started, 3))
    worker.start()
    worker.join(60)
    assert worker.exitcode == 0
    with Ledger(path) as other:  # a third process's view
        owners = {e.task_id: e.owner for e in other.entries()}
        assert owners["forked-0"] != parent.owner
        # the worker's exit must not make the parent look dead (its row would turn uncertain)
        assert _claim(other, "parent's job").kind == ClaimKind.BUSY


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_fork_while_another_thread_writes_leaves_the_child_a_usable_ledger(tmp_path):
    """A lock held by a thread that does not exist in the child would hang it for good."""
    import fcntl
    import threading

    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    ledger.entries(1)
    with open(f"{path}.lock", "rb+") as turn:  # hold the writers' turn, as a slow writer would
        fcntl.flock(turn, fcntl.LOCK_EX)
        writing = threading.Thread(target=lambda: ledger.sending(prompt="thread"))
        writing.start()
        threading.Timer(0.5, fcntl.flock, (turn, fcntl.LOCK_UN)).start()
        time.sleep(0.1)  # the thread now waits for the turn, inside the ledger's lock
        context = multiprocessing.get_context("fork")
        done = context.Event()
        child = context.Process(target=_forked_child_writes, args=(ledger, done))
        child.start()
        writing.join(30)
    child.join(30)
    if child.exitcode is None:
        child.kill()
    assert done.is_set() and child.exitcode == 0
    with Ledger(path) as after:
        assert {e.prompt for e in after.entries()} == {"thread", "child"}


def _forked_child_writes(ledger, done):
    ledger.submitted(ledger.sending(prompt="child"), "child", None)
    ledger.close()
    done.set()


_ROOT_MOUNT = "22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda rw"


def _mounts(tmp_path, monkeypatch, *lines):
    """The machine's mounts, as Linux's mountinfo would list them."""
    from flux_canny import _filesystems

    info = tmp_path / "mountinfo"
    info.write_text("".join(f"{line}\n" for line in (_ROOT_MOUNT, *lines)))
    monkeypatch.setattr(_filesystems, "_MOUNTINFO", str(info))


def test_a_ledger_on_a_network_file_system_is_refused_before_anything_is_sent(
    tmp_path, png, monkeypatch
):
    """Two machines sharing an NFS home would each keep their own WAL index and locks, and
    both could pay for one job; so the ledger is not kept there, and the user is told
    where to keep it instead. Mount points are written with octal escapes."""
    home = tmp_path / "nfs home"
    point = str(home).replace(" ", "\\040")
    _mounts(tmp_path, monkeypatch, f"36 22 0:52 / {point} rw,relatime shared:7 - nfs4 srv:/ rw")
    with (
        respx.mock(assert_all_called=False) as api,
        FluxCanny(api_key=KEY, ledger=home / "state" / "ledger.sqlite3") as flux,
    ):
        route = api.post(SUBMIT).respond(200, json={"id": "t", "polling_url": "x"})
        with pytest.raises(LedgerError, match="on nfs4, a network file system") as refused:
            flux.submit(control_image=png, **ARGS)
        assert route.call_count == 0
    assert "FLUX_CANNY_STATE_DIR" in str(refused.value)
    assert not home.exists()  # nothing was made there


def test_a_local_folder_beside_or_inside_a_network_mount_keeps_its_ledger(tmp_path, monkeypatch):
    """Only the deepest mount holding the path counts, whole names only; and where the
    system does not say (no mountinfo: macOS, Windows), nothing is refused."""
    nfs = tmp_path / "nfs"
    _mounts(
        tmp_path,
        monkeypatch,
        f"36 22 0:52 / {nfs} rw - nfs4 srv:/ rw",
        f"37 36 252:2 / {nfs}/scratch rw shared:9 - ext4 /dev/vdb rw",
    )
    with pytest.raises(LedgerError, match="network file system"):
        Ledger(nfs / "ledger.sqlite3").entries()
    for path in (tmp_path / "nfs-local" / "ledger.sqlite3", nfs / "scratch" / "ledger.sqlite3"):
        with Ledger(path) as ledger:
            ledger.submitted(ledger.sending(prompt="a"), "t1", None)
            assert ledger.find("t1") is not None
    from flux_canny import _filesystems

    monkeypatch.setattr(_filesystems, "_MOUNTINFO", str(tmp_path / "absent"))
    with Ledger(nfs / "ledger.sqlite3") as unknown:
        assert unknown.entries() == []


class _FakeMsvcrt:
    """Windows' byte-range locks, within one process: a lock is held by the descriptor
    that took it, until it is let go or that descriptor is closed."""

    LK_UNLCK, LK_NBLCK = 0, 2

    def __init__(self):
        self.held = {}  # inode -> the descriptor holding its first byte

    def locking(self, fd, mode, nbytes):
        assert (os.lseek(fd, 0, os.SEEK_CUR), nbytes) == (0, 1)
        inode = os.fstat(fd).st_ino
        if mode == self.LK_UNLCK:
            del self.held[inode]
            return
        holder = self.held.get(inode)
        if holder not in (None, fd) and _open_on(holder, inode):
            raise OSError(errno.EACCES, "Permission denied")
        self.held[inode] = fd


def _open_on(fd, inode):
    with contextlib.suppress(OSError):
        return os.fstat(fd).st_ino == inode
    return False


def _no_signals(monkeypatch):
    def kill(pid, sig):
        raise AssertionError(f"signalled process {pid}: on Windows, a Ctrl+C or its end")

    monkeypatch.setattr(os, "kill", kill)


def test_on_windows_an_owner_is_alive_by_its_byte_lock_and_no_process_is_signalled(
    tmp_path, monkeypatch
):
    """Liveness fell back on os.kill(pid, 0) without flock, and on Windows that call sends
    a Ctrl+C to the process (signal 0 is CTRL_C_EVENT there; others terminate it): a
    second batch on one folder stopped the first mid-submit, or whatever had its pid."""
    from flux_canny import _ledger_owner

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(_ledger_owner, "fcntl", None)  # Windows has none
    monkeypatch.setitem(sys.modules, "msvcrt", _FakeMsvcrt())
    _no_signals(monkeypatch)
    first, second = _ledger_owner.Owner(tmp_path), _ledger_owner.Owner(tmp_path)
    first.hold()
    second.hold()
    assert second.is_alive(first.token) and first.is_alive(second.token)
    first._handle.close()  # its process ended: the system lets go of its lock
    assert not second.is_alive(first.token)
    assert not (tmp_path / f"{first.token}.lock").exists()  # tidied
    assert first.is_alive(second.token)  # the check let go of what it took
    second.release()
    assert list(tmp_path.iterdir()) == []  # let go, closed, then removed


def test_with_no_locks_at_all_every_other_owner_counts_as_alive(tmp_path, monkeypatch):
    """Where neither flock nor msvcrt exists, nothing can tell a dead owner from a live
    one: its claims wait, never taken over (which could pay for a job twice)."""
    from flux_canny import _ledger_owner

    monkeypatch.setattr(_ledger_owner, "fcntl", None)
    _no_signals(monkeypatch)
    first, second = _ledger_owner.Owner(tmp_path), _ledger_owner.Owner(tmp_path)
    first.hold()
    first._handle.close()  # even a dead one
    assert second.is_alive(first.token)
    assert not second.is_alive(None) and second.is_alive(second.token)


def test_one_state_by_name_lists_its_rows_and_a_misspelt_one_is_refused(tmp_path):
    """states="uncertain" was read a letter at a time and listed nothing: the very tasks
    a user must check before paying again, hidden."""
    from flux_canny import InvalidArgumentError

    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.uncertain(ledger.sending(prompt="a"), "lost answer")
        ledger.submitted(ledger.sending(prompt="b"), "t1", None)
        assert [e.prompt for e in ledger.entries(states="uncertain")] == ["a"]
        assert [e.prompt for e in ledger.entries(states=[State.SUBMITTED])] == ["b"]
        with pytest.raises(InvalidArgumentError, match="no such task state 'uncretain'"):
            ledger.entries(states=["uncretain"])


def test_a_ledger_path_that_is_a_folder_or_no_path_is_a_typed_error(tmp_path):
    from flux_canny import ConfigurationError, InvalidArgumentError

    with pytest.raises(LedgerError, match="it is a folder"):
        Ledger(tmp_path).entries()
    with pytest.raises(InvalidArgumentError):
        Ledger(5)
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        for wrong in (float("nan"), -1.0):
            with pytest.raises(ConfigurationError, match="older_than"):
                ledger.prune(wrong)
        with pytest.raises(ConfigurationError, match="limit"):
            ledger.entries("10")


def test_a_task_another_live_process_fetched_and_has_yet_to_save_is_busy_not_fetched_again(
    tmp_path,
):
    """The library records a task `downloaded` when its bytes arrive, and the command
    writes the file after: a second process looking in between fetched it again and
    found the file there when it saved ("kept", the image stranded in its state folder)."""
    output = tmp_path / "out.jpg"
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as saving, Ledger(path) as other:
        row = _claim(saving, output=str(output)).entry.row
        saving.sending(row)
        saving.submitted(row, "t1", None)
        saving.task_state("t1", State.DOWNLOADED)
        assert _claim(other, output=str(output)).kind == ClaimKind.BUSY
        output.write_bytes(b"image")
        saving.task_state("t1", State.DOWNLOADED, output=str(output))
        assert _claim(other, output=str(output)).kind == ClaimKind.DONE
    with Ledger(path) as later:  # its process gone before the file was written: fetched again
        output.unlink()
        assert _claim(later, output=str(output)).kind == ClaimKind.RESUME
