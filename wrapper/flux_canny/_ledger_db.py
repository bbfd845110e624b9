"""The ledger in a SQLite file: opening it (private, WAL, the schema made once and
migrated in place), the turns that processes writing it take, and making each write
durable (`SqliteStore`, the embedded default)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._files import full_sync, sync_folder
from ._filesystems import network_filesystem
from ._ledger_owner import Owner, fcntl
from ._ledger_rows import ADDED_COLUMNS, FILE_NAME, SCHEMA, SCHEMA_VERSION, State
from ._ledger_store import Db, Refused, Unsynced
from ._operations import CANNY
from .errors import InvalidArgumentError
from .models import Task

__all__ = ["TURN_TIMEOUT", "SqliteStore", "Turns", "open_database", "sync_wal"]


#: how long a writer waits for the ledger's turn before it is an error (Ledger's default)
TURN_TIMEOUT = 30.0


class Turns:
    """Processes writing the ledger take turns on an flock of `<ledger>.lock`.

    SQLite's own locking is what keeps writes whole; this only decides who goes next.
    Its busy handler naps (1, 2, 5, 10 ... 100 ms) instead of waiting for the lock to
    be freed, so a writer that met another lost milliseconds, and one that kept meeting
    them starved while the others wrote. The kernel wakes a flock waiter as soon as the
    lock is let go.

    But flock is not a queue: a writer that let go and asked again at once (a loop of
    writes) took the lock back before the woken waiter was on a CPU. What stops that
    is `sync_wal`: the writer letting go syncs the WAL next, off the CPU for the fsync,
    and the waiter it woke goes first. Measured with 8 processes x 500 tasks (two
    writes a task) on 2 cores, `bench/run.py --ledger 2`, writing back to back:
    - SQLite's busy handler alone: p99 0.6-0.8 ms but max 1.8-2.0 s, one writer
      waiting behind 2,991 rows of the others (each pausing 2 ms after a write: 436-448
      writes of 8,000 over 5 ms, max 230 ms);
    - turns, the fsync inside the commit: p99 26-36 ms, max 61-99 ms, 229-292 rows;
      a time.sleep(0) after letting go made that p99 4.5-7.6 ms, 11-21 rows (a
      turnstile of two locks as much, os.sched_yield nothing);
    - turns, the sync after them: p99 3.2-3.6 ms, 17-35 rows, with or without the
      sleep, which then only cost the async face: its worker threads, yielding the GIL
      inside the ledger's own lock, waited 3 ms a write for each other in a batch.

    Setting a ledger up takes the same turn, so the first process makes the schema and
    the rest find it done (eight processes starting together took up to 1.5 s in the
    busy handler); opening one that is ready takes none (see `open_database`). Without
    fcntl (Windows), the busy timeout alone does the waiting.

    Every wait is bounded: a turn held longer than `timeout` seconds (a process stopped
    in its turn, a lock file someone else holds) raises TimeoutError naming the lock
    file and its holder. A blocking flock has no timeout, so a contended turn is waited
    for by a thread blocked in flock, which the kernel still wakes at once; the caller
    waits for that thread, at most `timeout` s.
    """

    def __init__(self, ledger: Path, timeout: float = TURN_TIMEOUT) -> None:
        self._path = ledger.with_name(ledger.name + ".lock")
        self._fd: int | None = None
        self.timeout = timeout
        #: descriptors of waits given up, with the pid that gave them up (see `close`)
        self._given_up: list[tuple[int, int]] = []

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        fd = self._take()
        try:
            yield
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                if fd != self._fd:
                    os.close(fd)

    def _take(self) -> int | None:
        """The locked descriptor, or None where there can be no turn (no fcntl, or a lock
        file that cannot be made): then SQLite's busy timeout alone does the waiting, and
        a folder that cannot be written fails on the database with a clear error."""
        if fcntl is None:  # pragma: no cover - Windows
            return None
        try:
            if self._fd is None:
                self._fd = _open_lock(self._path)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return self._wait()
        except OSError:
            return None
        return self._fd

    def _wait(self) -> int | None:
        """Another process has the turn: wait for it, `timeout` s at most. The waiting
        thread locks a descriptor of its own, so a wait given up and granted later is
        let go there and then, never taken for a turn of this process."""
        try:
            fd = _open_lock(self._path)
        except OSError:
            return None
        waiter = _Waiter(fd)
        threading.Thread(target=waiter.run, name="flux-canny-ledger-turn", daemon=True).start()
        if waiter.granted(self.timeout):
            if waiter.failed:
                os.close(fd)
                return None
            return fd
        self._given_up.append((fd, os.getpid()))
        raise TimeoutError(
            f"its lock {self._path} has been held by {_holder(self._path)} for over "
            f"{self.timeout:g} s"
        )

    def close(self) -> None:
        """Closes without unlocking: in a forked child the descriptor shares the parent's
        open file, and so any lock the parent holds on it. A forked child also closes the
        descriptors of waits its parent gave up (their threads are not in the child, and
        its copy would keep a late-granted lock held for as long as it lives)."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        for fd, pid in list(self._given_up):
            if pid != os.getpid():
                self._given_up.remove((fd, pid))
                with contextlib.suppress(OSError):
                    os.close(fd)


def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


class _Waiter:
    """One blocking flock on its own thread, and whether the caller still wants it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.failed = False
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._wanted = True

    def run(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError:
            self.failed = True
        with self._lock:
            if self._wanted:
                self._done.set()
                return
        os.close(self.fd)  # given up: closing lets the lock go

    def granted(self, timeout: float) -> bool:
        self._done.wait(timeout)
        with self._lock:
            self._wanted = self._done.is_set()
            return self._wanted


def _holder(path: Path) -> str:
    """Who holds the flock on `path`, as Linux's /proc/locks says; elsewhere, or if it
    cannot tell, "another process"."""
    try:
        found = os.stat(path)
        device = f"{os.major(found.st_dev):02x}:{os.minor(found.st_dev):02x}"
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            for line in locks:
                fields = line.split()
                if len(fields) < 6 or fields[1] != "FLOCK":
                    continue  # a waiter ("->") or another kind of lock
                if fields[5] == f"{device}:{found.st_ino}":
                    return f"process {fields[4]}"
    except (OSError, ValueError):
        pass
    return "another process"


def open_database(path: Path, turns: Turns, *, busy_timeout_ms: int) -> sqlite3.Connection:
    """The connection (autocommit; callers open their own transactions).

    Only a ledger that is new, or from an earlier version, is set up in a turn, where the
    first process does it and the rest find it done. Opening one that is ready takes no
    turn: eight processes starting together each held it 1.2-6.6 ms just to look, and a
    process's first write waited behind all of them (5-12 ms, `bench/run.py --ledger`).
    """
    _create_private(path)
    db = sqlite3.connect(
        path,
        timeout=busy_timeout_ms / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        # SQLite need not fsync inside the commit: `sync_wal` does it after the turn
        # (NORMAL still syncs around checkpoints, so the file is never corrupted)
        db.execute("PRAGMA synchronous=NORMAL")
        # and its own syncs (at checkpoints) reach the disk itself on macOS, as ours do
        # (see `_files.full_sync`); elsewhere this changes nothing
        db.execute("PRAGMA fullfsync=ON")
        if not _is_ready(db):
            with turns.turn():
                _set_up(db)
    except BaseException:
        db.close()  # closed now, not whenever the collector gets to it (see Ledger)
        raise
    return db


def _create_private(path: Path) -> None:
    """Create the file private before SQLite does (its -wal and -shm follow its mode), and
    only when it is missing. Opening an existing one to check would be fatal: closing any
    descriptor of a file drops every POSIX lock the process holds on it, SQLite's included.
    A second Ledger in a process did that, and the next process to close the ledger took
    itself for the last user and deleted the WAL the first was still writing into."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))


_KNOWN = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'tasks_created'"


def _is_ready(db: sqlite3.Connection) -> bool:
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        return False
    if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        return False
    return db.execute(_KNOWN).fetchone() is not None and _missing_columns(db) == []


def _missing_columns(db: sqlite3.Connection) -> list[str] | None:
    """The columns a ledger of an earlier version lacks; None when there is no table."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
    return None if not columns else [c for c in ADDED_COLUMNS if c not in columns]


def _set_up(db: sqlite3.Connection) -> None:
    """In the turn; each step is skipped when another process did it first."""
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":  # SQLite keeps the old mode when the file system cannot do WAL
            raise sqlite3.OperationalError(f"its file system cannot keep a WAL (mode {mode})")
    if db.execute(_KNOWN).fetchone() is None:
        db.executescript(SCHEMA)  # the last statement makes the index _KNOWN asks for
    for added in _missing_columns(db) or []:
        with contextlib.suppress(sqlite3.OperationalError):  # a process without turns did it
            db.execute(f"ALTER TABLE tasks ADD COLUMN {added} {ADDED_COLUMNS[added]}")
    if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        db.execute("BEGIN IMMEDIATE")
        try:
            _migrate(db)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


#: rows a batch resumes (or takes for done) by their task id and polling URL
_RESUMED = (State.SUBMITTED, State.READY, State.DOWNLOADED)


def _migrate(db: sqlite3.Connection) -> None:
    """Version 1, in one transaction: seeds kept exactly (see `_ledger_rows.stored`), and
    rows that earlier versions wrote from submit answers they could not read (an id of
    null or 2**100, a polling URL that does not parse) made uncertain: a task may exist,
    and resuming them ended every rerun in an AssertionError or httpx.InvalidURL.

    Version 2: the operation of every earlier row, which was always the seed's endpoint
    (the only one earlier versions could send to)."""
    db.execute("UPDATE tasks SET operation = ? WHERE operation IS NULL", (CANNY,))
    db.execute(
        "UPDATE tasks SET seed_text = CAST(seed AS TEXT) "
        "WHERE seed IS NOT NULL AND seed_text IS NULL"
    )
    marks = ", ".join("?" for _ in _RESUMED)
    rows = db.execute(
        f"SELECT row, state, task_id, polling_url FROM tasks WHERE state IN ({marks})",  # noqa: S608
        tuple(str(s) for s in _RESUMED),
    ).fetchall()
    for row, state, task_id, polling_url in rows:
        resumed = state != State.DOWNLOADED
        try:  # the one reader's rules: Task refuses what it cannot use
            Task(id=task_id, polling_url=polling_url if resumed else None)
        except InvalidArgumentError as unreadable:
            said = f"its submit's answer could not be read ({unreadable}); a task may exist"
            db.execute(
                "UPDATE tasks SET state = ?, error = ? WHERE row = ?",
                (str(State.UNCERTAIN), said, row),
            )


# Linux's fdatasync skips the file's times; elsewhere the full sync (see `full_sync`)
_datasync = getattr(os, "fdatasync", None) or full_sync


def sync_wal(path: Path, *, with_folder: bool = False) -> None:
    """Make every transaction committed so far durable: fdatasync the `-wal` file, and
    with `with_folder` (a connection's first write) the folder, whose entry for a new
    WAL is not on the disk until then. SQLite does both when it syncs its own WAL (its
    first sync of a new journal also syncs the folder); this sync replaces SQLite's.

    With synchronous=FULL SQLite fsyncs inside COMMIT, while it holds the one write lock,
    so eight writers queued behind one another's fsyncs (0.2-0.3 ms each). Committed
    with synchronous=NORMAL, a transaction is in the WAL file but not yet on the disk;
    each writer then syncs that file after its turn, and the fsyncs of writers that
    finish together overlap: a group commit. A writer returns (and a submit is sent)
    only after its own sync, so a row is as durable as with FULL:
    - its frames, and every frame before them, are in the WAL file, which this flushes;
    - the WAL's header is synced by SQLite when the file is reused after a checkpoint,
      and a checkpoint syncs the WAL before copying it and the database after;
    - so after a power cut, recovery finds the frames, or the checkpointed database has
      them. Only the last connection's close deletes the WAL, after a full checkpoint.
    Measured, 8 processes x 500 tasks writing back to back on 2 cores
    (`bench/run.py --ledger 2`): median 2.4 -> 1.2 ms, p99 4.5-7.6 -> 2.9-3.4 ms,
    writes over 5 ms 55-387 -> 9-25 of 8,000, the whole run 2.6 -> 1.3 s.

    A WAL that is not there is an error, never a sync skipped: every connection is in WAL
    mode (see `_set_up`) and the caller's is open, so a missing file means the ledger is
    not where this looks (a relative path after a chdir, a symlink) or was deleted under
    it; either way the write is not known to be on the disk.
    """
    fd = os.open(f"{path}-wal", os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    try:
        _datasync(fd)
    finally:
        os.close(fd)
    if with_folder:
        sync_folder(path.parent)


class SqliteStore:
    """The ledger in one SQLite file on this machine: WAL, writers taking turns, each
    write synced after its turn, liveness by flock on owner files (see `_ledger_owner`)."""

    failures: tuple[type[BaseException], ...] = (sqlite3.Error, TimeoutError)

    def __init__(self, path: Path, lock_timeout: float, *, busy_timeout_ms: int) -> None:
        self.path = path
        self.where = str(path)
        self.owner = Owner(path.parent / "owners")
        self._turns = Turns(path, lock_timeout)
        self._busy_timeout_ms = busy_timeout_ms
        self._db: sqlite3.Connection | None = None
        self._closer: weakref.finalize[[sqlite3.Connection], SqliteStore] | None = None
        self._folder_synced = False  # since this connection opened (see sync_wal)
        #: the ledger's first open of this file: it imports an older version's journal
        self.opened = False

    def connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        if self.path.is_dir():
            said = f"it is a folder, not the ledger's file (such as {self.path / FILE_NAME})"
            raise Refused("cannot open", said)
        shared = network_filesystem(self.path)
        if shared is not None:
            said = (
                f"it is on {shared}, a network file system: processes on two machines "
                "sharing it would not see each other's claims and could both pay for one job"
            )
            where = f"a folder on this machine's own disk (and move {self.path.name} there)"
            raise Refused("cannot keep", said, where)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        db = open_database(self.path, self._turns, busy_timeout_ms=self._busy_timeout_ms)
        try:
            self.owner.hold()
        except BaseException:
            db.close()
            raise
        self._db = db
        # closed as soon as this store is dropped, not when the collector gets to the
        # connection (it is in a reference cycle): see `Ledger._before_fork` for why
        self._closer = weakref.finalize(self, _close_quietly, db)
        return db

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction, in this process's turn (see `Turns`), on the disk
        when this returns: synced after the turn, so that writers' syncs overlap (see
        `sync_wal`)."""
        db = self.connect()
        first = not self._folder_synced
        try:
            with self._turns.turn():
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except self.failures:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        try:
            sync_wal(self.path, with_folder=first)
        except OSError as error:
            raise Unsynced(str(error)) from error
        if first:
            self._folder_synced = self._db is db  # not if it was closed meanwhile

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self.connect().execute(sql, tuple(args)).fetchall()

    def lock_job(self, db: Db, scope: str, name: str) -> bool:
        return True  # the IMMEDIATE transaction already holds the whole file

    def may_send(self, db: Db | None = None) -> str | None:
        return None  # the kernel keeps our flock for as long as we live

    def take_slot(self, db: Db, cap: int) -> int | None:
        return 0  # one machine: the process's own cap is the cap

    def dead_owners(self) -> list[str]:
        found = self.read(
            "SELECT DISTINCT owner FROM tasks WHERE state IN (?, ?)",
            (str(State.SENDING), str(State.CLAIMED)),
        )
        return [row["owner"] for row in found if not self.owner.is_alive(row["owner"])]

    def disconnect(self) -> None:
        if self._closer is not None:
            self._closer()
        self._db = self._closer = None
        self._folder_synced = False

    def close(self) -> None:
        self.disconnect()
        self.owner.release()
        self._turns.close()

    def before_fork(self) -> None:
        self.disconnect()

    def after_fork_in_child(self) -> None:
        """The child is a process of its own: its own owner token (the parent's rows stay
        the parent's, alive while it lives), its own turn descriptor."""
        self.owner = self.owner.forked()
        self._turns.close()  # the next turn opens the child's own descriptor


def _close_quietly(db: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        db.close()
