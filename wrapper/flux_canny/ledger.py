"""The ledger: every task this machine paid for, written down *before* the POST that pays.

BFL has no idempotency keys, so this file is the only thing between a user and paying
twice. It is one SQLite database (the standard library's `sqlite3`, WAL, one transaction
per state change, on the disk before the write returns, a busy timeout) shared by the
library and every command. A row is one submit attempt and moves through

    claimed → sending → submitted(id) → ready → downloaded
                      ↘ uncertain      ↘ moderated | failed | not_found | expired | kept
                      ↘ rejected (the server refused: no task)

A row left at `sending` by a process that died is **uncertain**: the POST may have reached
the server and its answer was never read. Nothing here ever guesses about such a row;
the user decides (`--resubmit-uncertain`). A row with a task id is resumed, never
submitted again, whatever its last error was. A job is submitted again only when its
task is known to be gone (moderated, failed, not found, expired).

Who is alive: each Ledger holds an exclusive `flock` on a small owner file for as long
as its process lives; the kernel drops it on exit, kill -9 included. A row whose owner's
lock can be taken belongs to a dead process. That is how two processes on one folder
never submit the same job, and how a crashed run's rows are told from a running one's.

One machine: a ledger on a network file system is refused (see `_filesystems`), since
neither SQLite's WAL nor these locks hold between machines. Several machines share one
PostgreSQL database instead (`FLUX_CANNY_LEDGER=postgresql://...`, see `_ledger_pg`):
the same rows and rules, liveness by leases with heartbeats, claims held per job, and
the key's cap of active tasks counted there for the whole fleet.

The API key is never written here. The file is private (0600) in a private folder.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from . import _ledger_claims
from ._checks import check_number
from ._ledger_db import TURN_TIMEOUT, SqliteStore
from ._ledger_import import OLD_BATCH_FILE, import_old_batch_file, import_old_journal
from ._ledger_rows import (
    COLUMNS,
    GONE,
    OPEN,
    STATE_DIR_ENV,
    Claim,
    ClaimKind,
    Entry,
    State,
    default_ledger_path,
    default_state_dir,
    entry_of,
    stored,
)
from ._ledger_store import Db, Refused, Store, Unsynced
from .errors import ConfigurationError, InvalidArgumentError, LedgerError, redact

__all__ = [
    "GONE",
    "LEASE_ENV",
    "LEDGER_ENV",
    "OLD_BATCH_FILE",
    "OPEN",
    "STATE_DIR_ENV",
    "Claim",
    "ClaimKind",
    "Entry",
    "Ledger",
    "LedgerError",
    "State",
    "default_ledger_path",
    "default_state_dir",
    "import_old_batch_file",
]

_PROMPT_CHARS = 300
_BUSY_TIMEOUT_MS = 30_000
#: where the ledger is: a SQLite file's path, or a postgresql:// connection string
LEDGER_ENV = "FLUX_CANNY_LEDGER"
#: a PostgreSQL ledger's lease, in seconds (see `_ledger_pg`)
LEASE_ENV = "FLUX_CANNY_LEASE"
_POSTGRES = ("postgresql://", "postgres://")


def _hashable(value: Any) -> Any:
    return os.fspath(value) if isinstance(value, os.PathLike) else value


def _redacted(values: dict[str, Any]) -> dict[str, Any]:
    """The error text as it may be written down: never with the API key in it."""
    if isinstance(values.get("error"), str):
        values["error"] = redact(values["error"])
    return values


def _lease_from_env(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigurationError(f"{LEASE_ENV} is a number of seconds above 0, got {text!r:.40}")
    return seconds


def _is_postgres(target: object) -> bool:
    return isinstance(target, str) and target.startswith(_POSTGRES)


class _Unsynced(LedgerError):
    """A write committed that could not be synced to the disk."""


_UNSYNCED_NOT_SENT = "never sent: the task ledger could not be synced to the disk"
_UNWRITTEN_NOT_SENT = "never sent: the task ledger could not be written"


class Ledger:
    """The submit ledger. Thread-safe; one connection per instance, opened lazily.

    Every write is one transaction; every failure to read or write is a LedgerError.
    Safe across fork: see `_before_fork`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        lock_timeout: float = TURN_TIMEOUT,
        lease: float | None = None,
    ) -> None:
        """`path`: the SQLite file, or a `postgresql://` connection string; by default
        FLUX_CANNY_LEDGER, else `ledger.sqlite3` in the state folder.

        `lock_timeout`: the most seconds a write waits for its turn while another
        process writes (see `_ledger_db.Turns`); past it, a LedgerError names the holder.
        `lease` (PostgreSQL): the seconds a worker that stopped renewing its lease counts
        as alive; its heartbeats renew it three times a lease (see `_ledger_pg`)."""
        if path is not None and not isinstance(path, str | os.PathLike):
            raise InvalidArgumentError(f"a ledger's path is a str or a Path, got {path!r:.80}")
        check_number("lock_timeout", lock_timeout, above=True)
        if lease is not None:
            check_number("lease", lease, above=True)
        if path is None and os.environ.get(LEDGER_ENV):
            path = os.environ[LEDGER_ENV]
        if lease is None and os.environ.get(LEASE_ENV):
            lease = _lease_from_env(os.environ[LEASE_ENV])
        self._store: Store
        if _is_postgres(path):
            try:
                from ._ledger_pg import PgStore  # psycopg: the [postgres] extra
            except ImportError as missing:
                raise ConfigurationError(
                    f"a PostgreSQL ledger needs psycopg 3 ({missing}): "
                    "pip install 'flux-canny[postgres]'"
                ) from None

            assert isinstance(path, str)
            # what is kept on this machine (images paid for and not yet saved) stays in
            # its own state folder
            self.path = default_ledger_path().resolve()
            self._store = PgStore(path, lock_timeout=lock_timeout, lease=lease)
        else:
            # resolved, as SQLite resolves it: the WAL's sync, the turn and owner files and
            # any reopening must find the same file after a chdir, and the WAL SQLite keeps
            # beside a symlink's target (relative or linked, the sync found no WAL)
            self.path = (Path(path) if path is not None else default_ledger_path()).resolve()
            self._store = SqliteStore(self.path, lock_timeout, busy_timeout_ms=_BUSY_TIMEOUT_MS)
        #: how this ledger is named in messages and records (never with a password)
        self.where = self._store.where
        self._failures: tuple[type[BaseException], ...] = (*self._store.failures, OSError)
        self._lock = threading.RLock()
        self._opened = False
        #: slots whose giving back failed (the database was away): given back next time
        self._ungiven: list[int] = []
        #: a shared ledger's writes that failed after a submit (its row's or its task's
        #: state): written, in order, as soon as the database is back (see `_catch_up`)
        self._later: dict[tuple[str, int | str], dict[str, Any]] = {}
        #: submits sent whose task id could not be recorded: row -> (task id, polling URL)
        self._unrecorded: dict[int, tuple[str, str | None]] = {}
        with _LIVE_LOCK:
            _LIVE.add(self)

    def __repr__(self) -> str:
        return f"Ledger({self.where!r})"

    @property
    def shared(self) -> bool:
        """Whether other machines share this ledger (PostgreSQL): their claims may free
        later, and the key's active tasks are counted here for all of them."""
        return not isinstance(self._store, SqliteStore)

    @property
    def lease(self) -> float:
        """Seconds a worker of a shared ledger that stopped renewing counts as alive (0
        on SQLite, where the kernel tells at once)."""
        return float(getattr(self._store.owner, "lease", 0.0))

    @property
    def owner(self) -> str:
        """This process's token on the rows it writes (see `Entry.owner`)."""
        return self._store.owner.token

    # -- connection ---------------------------------------------------------------------------

    def _open(self) -> None:
        """On the first use: an older version's journal, read once."""
        if not self._opened:
            self._opened = True
            if isinstance(self._store, SqliteStore):
                import_old_journal(self.path.parent, self.adopt)

    def _error(
        self, doing: str, error: BaseException | str, *, folder: str | None = "a writable folder"
    ) -> LedgerError:
        """The error, with what to do, and the truth about what was sent: "nothing was
        submitted that could not be recorded" only while that holds."""
        remedy: str | None
        if isinstance(error, TimeoutError):
            remedy = "let that process finish, or stop it"
        elif folder is None:
            remedy = None
        else:
            remedy = f"set {STATE_DIR_ENV} to {folder}"
            if not isinstance(self._store, SqliteStore):
                remedy = "check that the database server is running and reachable"
        with self._lock:
            unrecorded = [task_id for task_id, _ in self._unrecorded.values()]
        fetch = unrecorded[0] if len(unrecorded) == 1 else "ID"
        sent = (
            f"submitted but not recorded: task {', '.join(unrecorded)}; `flux-canny result "
            f"{fetch}` fetches it"
            if unrecorded
            else "nothing was submitted that could not be recorded"
        )
        if remedy is None:
            return LedgerError(f"{doing} the task ledger {self.where}: {error} ({sent})")
        return LedgerError(f"{doing} the task ledger {self.where}: {error}; {remedy} ({sent})")

    @contextlib.contextmanager
    def _write(self) -> Iterator[Db]:
        """One transaction, durable when this returns (see the store's `write`)."""
        try:
            with self._lock:
                self._open()
                with self._store.write() as db:
                    yield db
        except Refused as refused:
            raise self._error(refused.doing, refused.said, folder=refused.remedy) from None
        except Unsynced as error:
            raise _Unsynced(str(self._error("cannot sync", error))) from error
        except self._failures as error:
            if isinstance(error, LedgerError):
                raise
            raise self._error("cannot write", error) from error

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[Entry]:
        with self._lock:
            try:
                self._open()
                rows = self._store.read(sql, tuple(args))
            except Refused as refused:
                raise self._error(refused.doing, refused.said, folder=refused.remedy) from None
            except self._failures as error:
                if isinstance(error, LedgerError):
                    raise
                raise self._error("cannot read", error) from error
        return [entry_of(row) for row in rows]

    def close(self) -> None:
        with contextlib.suppress(LedgerError):
            self._catch_up()  # a task id the database was down for, now it may be back
        with self._lock:
            self._store.close()

    # -- fork ----------------------------------------------------------------------------------

    def _before_fork(self) -> None:
        """No SQLite connection may cross a fork. SQLite keeps its record of the locks this
        process holds in memory, and the kernel does not give a child its parent's locks:
        a child writing through an inherited connection, or through a new one that found
        the inherited record, took no lock the others could see. When the parent then
        closed the ledger, SQLite took it for the last user and deleted the WAL under the
        child: 44 of a worker's 50 rows vanished, and it never heard. So the connection is
        closed here, under the lock, and opened again by whoever writes next. Holding the
        lock across the fork also means no write is half-way in the child, and no lock
        there is held by a thread the child does not have."""
        self._lock.acquire()
        self._store.before_fork()

    def _after_fork_in_parent(self) -> None:
        self._lock.release()

    def _after_fork_in_child(self) -> None:
        """The child is a process of its own (see the store's `after_fork_in_child`),
        with a fresh lock."""
        self._lock = threading.RLock()
        self._store.after_fork_in_child()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------

    def _insert(self, db: Db, state: State, fields: Mapping[str, Any]) -> int:
        now = time.time()
        values = _redacted(
            stored({k: _hashable(v) for k, v in fields.items() if k in COLUMNS and v is not None})
        )
        if isinstance(values.get("prompt"), str):
            values["prompt"] = values["prompt"][:_PROMPT_CHARS]
        values.update(
            state=str(state),
            owner=self.owner,
            pid=os.getpid(),
            created_at=now,
            updated_at=now,
        )
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = db.execute(f"INSERT INTO tasks ({names}) VALUES ({marks})", tuple(values.values()))  # noqa: S608
        return int(cursor.lastrowid or 0)

    def _update(self, db: Db, where: str, args: tuple[Any, ...], **fields: Any) -> int:
        values = _redacted(stored({k: _hashable(v) for k, v in fields.items() if k in COLUMNS}))
        values["updated_at"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in values)
        cursor = db.execute(
            f"UPDATE tasks SET {sets} WHERE {where}",  # noqa: S608
            (*values.values(), *args),
        )
        return int(cursor.rowcount)

    def sending(self, row: int | None = None, **fields: Any) -> int:
        """Write ahead: a POST is about to go out. Returns the row to report back on.

        `row` is a row claimed earlier (a batch job); without it a new one-off row is
        made from `fields` (prompt, finetune_id, base_url, output, scope, name...).
        """
        self._catch_up()
        lost = self._store.may_send()
        if lost is not None:
            raise self._error("cannot send through", lost, folder=None)
        written = row
        try:
            with self._write() as db:
                lost = self._store.may_send(db)
                if lost is not None:  # its jobs may be another worker's by now
                    raise self._error("cannot send through", lost, folder=None)
                if written is None:
                    written = self._insert(db, State.SENDING, fields)
                else:
                    extra = {k: v for k, v in fields.items() if v is not None}
                    self._update(db, "row = ?", (written,), state=str(State.SENDING), **extra)
        except _Unsynced:
            # committed, but not known to be on the disk, so it will not be sent: say so,
            # or a rerun would take it for uncertain and ask the user to check their tasks
            if written is not None:  # always, once committed
                with contextlib.suppress(LedgerError):
                    self.rejected(written, _UNSYNCED_NOT_SENT)
            raise
        except LedgerError:
            # a server that went away mid-commit may have kept the row: it was not sent,
            # and the row says so once the database is back (see `_catch_up`)
            if self.shared and written is not None:
                with self._lock:
                    self._later[("row", written)] = {
                        "state": str(State.REJECTED),
                        "error": _UNWRITTEN_NOT_SENT,
                    }
            raise
        return written

    def submitted(self, row: int, task_id: str, polling_url: str | None) -> None:
        """The answer of a POST that was sent: its task id. If it cannot be written (a
        full disk), the task is paid for and known only here: the error names it, and
        every message and every `sending` after says so, until it is written (`sending`
        tries first, and sends nothing until it could)."""
        try:
            self._write_submitted(row, task_id, polling_url)
        except LedgerError as error:
            with self._lock:
                self._unrecorded[row] = (task_id, polling_url)
            cause = error.__cause__ or error
            raise LedgerError(
                f"task {task_id} was submitted, but the task ledger {self.where} could not "
                f"record it ({cause}); `flux-canny result {task_id}` fetches it. Nothing more "
                "is submitted until the ledger can record it"
            ) from error.__cause__
        with self._lock:
            self._unrecorded.pop(row, None)

    def _catch_up(self) -> None:
        """Record the submits whose record failed, then (a shared ledger) the states
        that could not be written after them; until that works, no POST is sent."""
        with self._lock:
            waiting = dict(self._unrecorded)
            later = dict(self._later)
        for row, (task_id, polling_url) in waiting.items():
            try:
                self._write_submitted(row, task_id, polling_url)
            except LedgerError as error:
                raise self._error("cannot write", error.__cause__ or error) from error
            with self._lock:
                self._unrecorded.pop(row, None)
        for (column, key), fields in later.items():
            try:
                with self._write() as db:
                    self._update(db, f"{column} = ?", (key,), **fields)
            except LedgerError as error:
                raise self._error("cannot write", error.__cause__ or error) from error
            with self._lock:
                if self._later.get((column, key)) is fields:
                    del self._later[(column, key)]

    @contextlib.contextmanager
    def _or_later(self, column: str, key: int | str, fields: dict[str, Any]) -> Iterator[None]:
        """A write after a submit that, on a shared ledger, is kept to be written when the
        database is back if it fails now (the error is raised all the same): another
        worker must not find a finished job still `sending`, or a paid one unrecorded."""
        try:
            yield
        except LedgerError:
            if self.shared:
                with self._lock:
                    merged = {**self._later.pop((column, key), {}), **fields}
                    self._later[(column, key)] = merged
            raise

    def settle_mine(self) -> None:
        """A worker of a shared ledger with nothing in flight (its jobs done, waiting on
        others'): what it could not write is written, its unsent claims dropped, a
        `sending` row it still has made uncertain (its answer was never recorded), and
        its tasks that did not end here handed to whoever resumes them (never paid
        again: a row with a task is only ever resumed)."""
        self._catch_up()
        with self._write() as db:
            db.execute(
                "DELETE FROM tasks WHERE owner = ? AND state = ?", (self.owner, str(State.CLAIMED))
            )
            self._update(
                db,
                "owner = ? AND state = ?",
                (self.owner, str(State.SENDING)),
                state=str(State.UNCERTAIN),
                error="the answer of its submit could not be recorded",
            )
            db.execute(
                "UPDATE tasks SET owner = NULL WHERE owner = ? AND state IN (?, ?)",
                (self.owner, str(State.SUBMITTED), str(State.READY)),
            )

    def _write_submitted(self, row: int, task_id: str, polling_url: str | None) -> None:
        with self._write() as db:
            self._update(
                db,
                "row = ?",
                (row,),
                state=str(State.SUBMITTED),
                task_id=task_id,
                polling_url=polling_url,
                error=None,
            )

    def uncertain(self, row: int, error: str, *, task_id: str | None = None) -> None:
        """A submit that may have created a task; `task_id` when an answer named one
        that could not be read in full (`flux-canny result ID` can still fetch it)."""
        fields = {"state": str(State.UNCERTAIN), "error": error}
        if task_id is not None:
            fields["task_id"] = task_id
        with self._or_later("row", row, fields), self._write() as db:
            self._update(db, "row = ?", (row,), **fields)

    def rejected(self, row: int, error: str) -> None:
        fields = {"state": str(State.REJECTED), "error": error}
        with self._or_later("row", row, fields), self._write() as db:
            self._update(db, "row = ?", (row,), **fields)

    def release(self, row: int) -> None:
        """A claimed row that will not be sent after all (interrupted before its POST)."""
        with self._write() as db:
            db.execute("DELETE FROM tasks WHERE row = ? AND state = ?", (row, str(State.CLAIMED)))

    def release_mine(self) -> None:
        """Drop this process's claims that were never sent (a batch that was stopped)."""
        with self._write() as db:
            db.execute(
                "DELETE FROM tasks WHERE owner = ? AND state = ?",
                (self.owner, str(State.CLAIMED)),
            )

    def task_state(self, task_id: str, state: State | None = None, **fields: Any) -> None:
        """Move a task's row on (ready, downloaded, moderated...), or note its last error.

        A task the ledger does not know (resumed from elsewhere) changes nothing.
        """
        if state is not None:
            fields["state"] = str(state)
            fields.setdefault("error", None)
        with contextlib.suppress(LedgerError):
            self._catch_up()  # a submit the database was down for, recorded once it is back
        with self._or_later("task_id", task_id, fields), self._write() as db:
            self._update(db, "task_id = ?", (task_id,), **fields)

    def durations(
        self, base_url: str, limit: int = 64, *, operation: str | None = None
    ) -> list[tuple[float, float]]:
        """The newest `limit` duration brackets of tasks submitted to `base_url` (and to
        `operation`'s endpoint when named: a klein task and an Ultra one differ tenfold),
        oldest first: what a new client's poll schedule starts from."""
        endpoint = "" if operation is None else "AND operation = ? "
        query = (
            "SELECT * FROM tasks WHERE duration_high IS NOT NULL AND base_url = ? "  # noqa: S608
            f"{endpoint}ORDER BY updated_at DESC LIMIT ?"
        )
        args = (base_url, limit) if operation is None else (base_url, operation, limit)
        rows = self._read(query, args)
        return [(e.duration_low or 0.0, e.duration_high or 0.0) for e in reversed(rows)]

    def adopt(self, task_id: str, **fields: Any) -> None:
        """Record a task submitted elsewhere (or by an older version) if it is not known."""
        with self._write() as db:
            known = db.execute("SELECT 1 FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if known is None:
                state = fields.pop("state", State.SUBMITTED)
                self._insert(db, State(state), {**fields, "task_id": task_id})

    # -- claims: which process may submit a job (see _ledger_claims) --------------------------

    def claim(
        self,
        scope: str,
        name: str,
        *,
        request_hash: str,
        resubmit_uncertain: bool = False,
        regenerate_changed: bool = False,
        resubmit_not_found: bool = False,
        resubmit_expired: bool = False,
        **fields: Any,
    ) -> Claim:
        """Decide, in one transaction, what this process may do with a job (see
        `_ledger_claims.decide`).

        NEW leaves a row in state `claimed` owned by this process: call `sending(row)`
        just before the POST, or `release(row)` if it will not happen.
        """
        job = {**fields, "scope": scope, "name": name, "request_hash": request_hash}
        if self.shared:
            self._catch_up()  # what this worker could not write comes first
        with self._write() as db:
            if not self._store.lock_job(db, scope, name):
                latest = _ledger_claims.latest(db, scope, name)
                if latest is not None:  # another process is deciding on it right now
                    return Claim(ClaimKind.BUSY, latest)
            return _ledger_claims.decide(
                _Rows(self, db),
                job,
                resubmit_uncertain=resubmit_uncertain,
                regenerate_changed=regenerate_changed,
                resubmit_not_found=resubmit_not_found,
                resubmit_expired=resubmit_expired,
            )

    # -- the key's active tasks, counted for the whole fleet (PostgreSQL) ---------------------

    def take_slot(self, cap: int) -> int | None:
        """One of the key's `cap` active tasks, taken in the database when it is shared
        (another process's may free first: None then means "not now"). On SQLite the
        process's own cap is the only one: always 0 (taken)."""
        with self._lock:
            ungiven = list(self._ungiven)
        with self._write() as db:
            for slot in ungiven:
                db.execute("DELETE FROM slots WHERE id = ?", (slot,))
            taken = self._store.take_slot(db, cap)
        with self._lock:
            self._ungiven = [s for s in self._ungiven if s not in ungiven]
        return taken

    def give_slot(self, slot: int) -> None:
        """Give back a slot `take_slot` returned; if the database cannot be reached, it
        is given back by the next `take_slot` (and by this worker's end, or its lease's)."""
        if not slot:
            return
        try:
            with self._write() as db:
                db.execute("DELETE FROM slots WHERE id = ?", (slot,))
        except LedgerError:
            with self._lock:
                self._ungiven.append(slot)
            raise

    # -- reading -------------------------------------------------------------------------------

    def reap(self) -> int:
        """Rows left `sending` by dead processes become `uncertain`. Returns how many."""
        with self._lock:
            try:
                dead = self._store.dead_owners()
            except Refused as refused:
                raise self._error(refused.doing, refused.said, folder=refused.remedy) from None
            except self._failures as error:
                raise self._error("cannot read", error) from error
            changed = 0
            for owner in dead:
                with self._write() as db:
                    db.execute(
                        "DELETE FROM tasks WHERE owner = ? AND state = ?",
                        (owner, str(State.CLAIMED)),
                    )
                    changed += self._update(
                        db,
                        "owner = ? AND state = ?",
                        (owner, str(State.SENDING)),
                        state=str(State.UNCERTAIN),
                        error="the process sending this submit ended before its answer arrived",
                    )
            return changed

    def find(self, task_id: str) -> Entry | None:
        found = self._read(
            "SELECT * FROM tasks WHERE task_id = ? ORDER BY row DESC LIMIT 1", (task_id,)
        )
        return found[0] if found else None

    def job(self, scope: str, name: str) -> Entry | None:
        found = self._read(
            "SELECT * FROM tasks WHERE scope = ? AND name = ? ORDER BY row DESC LIMIT 1",
            (scope, name),
        )
        return found[0] if found else None

    def siblings(self, scope: str, prefix: str) -> list[Entry]:
        """The newest row of each job in `scope` whose name starts with `prefix`."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return self._read(
            "SELECT * FROM tasks WHERE row IN (SELECT MAX(row) FROM tasks WHERE scope = ? "
            "AND name LIKE ? ESCAPE '\\' AND state != ? GROUP BY name) ORDER BY row DESC",
            (scope, pattern, str(State.CLAIMED)),
        )

    def entries(
        self,
        limit: int | None = None,
        *,
        states: str | Iterable[str] | None = None,
        scope: str | None = None,
    ) -> list[Entry]:
        """Attempts, newest first (claimed rows, which are not yet attempts, left out).

        `states` is one state or several; a state name that does not exist is refused, as
        a misspelt "uncertain" would otherwise list nothing and hide the tasks it asks for.
        """
        if limit is not None:
            check_number("limit", limit, integer=True)
        where = ["state != ?"]
        args: list[Any] = [str(State.CLAIMED)]
        if states is not None:
            wanted = [states] if isinstance(states, str) else list(states)
            unknown = sorted(set(map(str, wanted)) - {str(s) for s in State})
            if unknown:
                raise InvalidArgumentError(
                    f"no such task state {', '.join(map(repr, unknown))}; the states are "
                    + ", ".join(str(s) for s in State)
                )
            where.append(f"state IN ({', '.join('?' for _ in wanted)})")
            args += wanted
        if scope is not None:
            where.append("scope = ?")
            args.append(scope)
        sql = f"SELECT * FROM tasks WHERE {' AND '.join(where)} ORDER BY row DESC"  # noqa: S608
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return self._read(sql, args)

    def prune(self, older_than: float) -> int:
        """Forget finished rows older than `older_than` seconds; unfinished ones never."""
        check_number("older_than", older_than)
        keep = [str(s) for s in (*OPEN, State.CLAIMED)]
        with self._write() as db:
            cursor = db.execute(
                f"DELETE FROM tasks WHERE created_at < ? AND state NOT IN "  # noqa: S608
                f"({', '.join('?' for _ in keep)})",
                (time.time() - older_than, *keep),
            )
            return int(cursor.rowcount)


class _Rows:
    """The ledger's rows in one transaction, as a claim decides on them."""

    def __init__(self, ledger: Ledger, db: Db) -> None:
        self._ledger = ledger
        self.db = db
        self.token = ledger.owner

    def is_alive(self, token: str | None) -> bool:
        return self._ledger._store.owner.is_alive(token, self.db)

    def insert(self, state: State, fields: Mapping[str, Any]) -> int:
        return self._ledger._insert(self.db, state, fields)

    def update(self, where: str, args: tuple[Any, ...], **fields: Any) -> int:
        return self._ledger._update(self.db, where, args, **fields)


_LIVE: weakref.WeakSet[Ledger] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()
_FORKING: list[Ledger] = []  # the ledgers held across the fork under way


def _before_fork() -> None:
    _LIVE_LOCK.acquire()
    _FORKING[:] = list(_LIVE)
    for ledger in _FORKING:
        ledger._before_fork()


def _after_fork_in_parent() -> None:
    for ledger in _FORKING:
        ledger._after_fork_in_parent()
    _FORKING.clear()
    _LIVE_LOCK.release()


def _after_fork_in_child() -> None:
    global _LIVE_LOCK
    for ledger in _FORKING:
        ledger._after_fork_in_child()
    _FORKING.clear()
    _LIVE_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
