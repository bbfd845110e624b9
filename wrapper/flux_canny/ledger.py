"""The ledger: every task this machine paid for, written down *before* the POST that pays.

BFL has no idempotency keys, so this file is the only thing between a user and paying
twice. It is one SQLite database (the standard library's `sqlite3`, WAL, one transaction
per state change, `synchronous=FULL`, a busy timeout) shared by the library and every
command. A row is one submit attempt and moves through

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

The API key is never written here. The file is private (0600) in a private folder.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import attrs

from .errors import LedgerError

__all__ = [
    "GONE",
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
]

STATE_DIR_ENV = "FLUX_CANNY_STATE_DIR"
FILE_NAME = "ledger.sqlite3"
_PROMPT_CHARS = 300
_BUSY_TIMEOUT_MS = 30_000

try:  # POSIX: liveness by flock, which the kernel releases when a process dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class State(StrEnum):
    CLAIMED = "claimed"  # a process will submit this job; nothing sent yet
    SENDING = "sending"  # the POST is (or was) in flight
    UNCERTAIN = "uncertain"  # the POST may have created a task; its id never arrived
    REJECTED = "rejected"  # the server refused the submit, or it never left: no task
    ABANDONED = "abandoned"  # an uncertain row the user chose to submit past
    SUBMITTED = "submitted"
    READY = "ready"
    DOWNLOADED = "downloaded"
    KEPT = "kept"  # paid and downloaded, but the final write failed: see kept_at
    MODERATED = "moderated"
    FAILED = "failed"
    NOT_FOUND = "not_found"
    EXPIRED = "expired"


#: rows that may still need the user: never pruned
OPEN = frozenset({State.SENDING, State.UNCERTAIN, State.SUBMITTED, State.READY, State.KEPT})
#: the task is known to be gone: its job may be submitted again
GONE = frozenset({State.MODERATED, State.FAILED, State.NOT_FOUND, State.EXPIRED})
_NO_TASK = frozenset({State.REJECTED, State.ABANDONED, State.CLAIMED})
_HAS_TASK = frozenset({State.SUBMITTED, State.READY, State.DOWNLOADED, State.KEPT})


def default_state_dir() -> Path:
    """FLUX_CANNY_STATE_DIR, else the platform's user state folder."""
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return platformdirs.user_state_path("flux-canny")


def default_ledger_path() -> Path:
    return default_state_dir() / FILE_NAME


@attrs.frozen
class Entry:
    """One submit attempt, as the ledger knows it."""

    row: int
    state: str
    scope: str = ""
    name: str | None = None
    request_hash: str | None = None
    task_id: str | None = None
    polling_url: str | None = None
    base_url: str | None = None
    output: str | None = None
    kept_at: str | None = None
    prompt: str | None = None
    finetune_id: str | None = None
    seed: int | None = None
    error: str | None = None
    owner: str | None = attrs.field(default=None, repr=False)
    pid: int | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    #: the task's duration as its polls bracketed it: pending at `low` s, Ready at `high` s
    #: (the poll schedule of later runs learns from these)
    duration_low: float | None = attrs.field(default=None, repr=False)
    duration_high: float | None = attrs.field(default=None, repr=False)

    @property
    def is_open(self) -> bool:
        """It may still be waiting for you (or you for it)."""
        return self.state in OPEN


class ClaimKind(StrEnum):
    NEW = "new"  # submit now (the row is yours, state claimed)
    RESUME = "resume"  # a task exists: poll and download it, never submit
    KEPT = "kept"  # the image was paid and saved next to the ledger: finish from it
    DONE = "done"  # downloaded to its output, which exists, from the same request
    CHANGED = "changed"  # downloaded, but the job's request differs from the one that made it
    UNCERTAIN = "uncertain"  # an earlier POST may have created a task: not guessed
    BUSY = "busy"  # another live process is working on this job


@attrs.frozen
class Claim:
    kind: ClaimKind
    entry: Entry
    #: the attempt this one replaces (a gone task, an abandoned uncertain submit...)
    replaced: Entry | None = None


_COLUMNS = tuple(f.name for f in attrs.fields(Entry))
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '',
    name TEXT,
    request_hash TEXT,
    task_id TEXT,
    polling_url TEXT,
    base_url TEXT,
    output TEXT,
    kept_at TEXT,
    prompt TEXT,
    finetune_id TEXT,
    seed INTEGER,
    error TEXT,
    owner TEXT,
    pid INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    duration_low REAL,
    duration_high REAL
);
CREATE INDEX IF NOT EXISTS tasks_job ON tasks (scope, name, row);
CREATE INDEX IF NOT EXISTS tasks_task ON tasks (task_id);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state);
CREATE INDEX IF NOT EXISTS tasks_created ON tasks (created_at);
"""

#: columns added since the first schema, with the version that reads them
_ADDED_COLUMNS = ("duration_low", "duration_high")


class _Owner:
    """This ledger's proof of life: an flock held on owners/<token>.lock until exit."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.token = uuid.uuid4().hex
        self._handle: IO[bytes] | None = None

    def hold(self) -> None:
        if self._handle is not None:
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = open(self.folder / f"{self.token}.lock", "wb")  # noqa: SIM115
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                (self.folder / f"{self.token}.lock").unlink()
            self._handle.close()
            self._handle = None

    def is_alive(self, token: str | None, pid: int | None) -> bool:
        """Whether the process that wrote `token` still runs (ours always does)."""
        if token is None:
            return False
        if token == self.token:
            return True
        path = self.folder / f"{token}.lock"
        if fcntl is None:  # pragma: no cover - no flock: fall back on the pid
            return pid is not None and _pid_running(pid)
        try:
            handle = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return False
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    return True
                raise
            with contextlib.suppress(OSError):
                path.unlink()  # a dead owner's file: tidy up
            return False


def _pid_running(pid: int) -> bool:  # pragma: no cover - Windows only
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _hashable(value: Any) -> Any:
    return os.fspath(value) if isinstance(value, os.PathLike) else value


class Ledger:
    """The submit ledger. Thread-safe; one SQLite connection per instance, opened lazily.

    Every write is one transaction; every failure to read or write is a LedgerError.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_ledger_path()
        self._owner = _Owner(self.path.parent / "owners")
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    # -- connection ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with self._opening():
                db = self._open()
            self._owner.hold()
        except (OSError, sqlite3.Error) as error:
            raise self._error("cannot open", error) from error
        self._db = db
        _import_old_journal(self)
        return db

    @contextlib.contextmanager
    def _opening(self) -> Iterator[None]:
        """Processes opening the ledger at once take turns on a kernel lock: the first one
        creates the file, switches it to WAL and makes the schema, and the rest find it
        done. Without this they met in SQLite's busy handler, whose naps grow to 100 ms:
        opening took up to 1.5 s with eight processes starting together."""
        if fcntl is None:  # pragma: no cover - SQLite's busy timeout does the waiting
            yield
            return
        with open(self.path.with_name(self.path.name + ".open-lock"), "ab") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _open(self) -> sqlite3.Connection:
        # create it private before SQLite does; its -wal and -shm files follow its mode
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        db = sqlite3.connect(
            self.path,
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        # both need the write lock: skipped when another process already did them
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        known = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'tasks_created'"
        if db.execute(known).fetchone() is None:
            db.executescript(_SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
        for added in _ADDED_COLUMNS:
            if added not in columns:  # a ledger from an earlier version
                with contextlib.suppress(sqlite3.OperationalError):  # another process did it
                    db.execute(f"ALTER TABLE tasks ADD COLUMN {added} REAL")
        return db

    def _error(self, doing: str, error: BaseException) -> LedgerError:
        return LedgerError(
            f"{doing} the task ledger {self.path}: {error}; set {STATE_DIR_ENV} to a writable "
            "folder (nothing was submitted that could not be recorded)"
        )

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: writers queue on the busy timeout, none is lost.

        SQLite's busy handler is kept on purpose. Measured with 8 processes x 500 tasks on
        2 cores, it gives p99 under 1 ms, though about 12 writes in 8,000 wait 0.3-1.9 s
        when its naps have grown to 100 ms. Three replacements each made it worse:
        - naps capped at 4 ms: p99 27-55 ms;
        - 20 ms rounds: 200 writes over 5 ms;
        - a kernel flock queue: p99 20 ms.
        """
        with self._lock:
            db = self._connect()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise self._error("cannot write", error) from error

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[Entry]:
        with self._lock:
            db = self._connect()
            try:
                rows = db.execute(sql, tuple(args)).fetchall()
            except sqlite3.Error as error:
                raise self._error("cannot read", error) from error
        return [Entry(**{k: row[k] for k in _COLUMNS}) for row in rows]

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._owner.release()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------

    def _insert(self, db: sqlite3.Connection, state: State, fields: Mapping[str, Any]) -> int:
        now = time.time()
        values = {k: _hashable(v) for k, v in fields.items() if k in _COLUMNS and v is not None}
        if isinstance(values.get("prompt"), str):
            values["prompt"] = values["prompt"][:_PROMPT_CHARS]
        values.update(
            state=str(state),
            owner=self._owner.token,
            pid=os.getpid(),
            created_at=now,
            updated_at=now,
        )
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = db.execute(f"INSERT INTO tasks ({names}) VALUES ({marks})", tuple(values.values()))  # noqa: S608
        return int(cursor.lastrowid or 0)

    def _update(
        self, db: sqlite3.Connection, where: str, args: tuple[Any, ...], **fields: Any
    ) -> int:
        values = {k: _hashable(v) for k, v in fields.items() if k in _COLUMNS}
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
        with self._write() as db:
            if row is None:
                return self._insert(db, State.SENDING, fields)
            extra = {k: v for k, v in fields.items() if v is not None}
            self._update(db, "row = ?", (row,), state=str(State.SENDING), **extra)
            return row

    def submitted(self, row: int, task_id: str, polling_url: str | None) -> None:
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

    def uncertain(self, row: int, error: str) -> None:
        with self._write() as db:
            self._update(db, "row = ?", (row,), state=str(State.UNCERTAIN), error=error)

    def rejected(self, row: int, error: str) -> None:
        with self._write() as db:
            self._update(db, "row = ?", (row,), state=str(State.REJECTED), error=error)

    def release(self, row: int) -> None:
        """A claimed row that will not be sent after all (interrupted before its POST)."""
        with self._write() as db:
            db.execute("DELETE FROM tasks WHERE row = ? AND state = ?", (row, str(State.CLAIMED)))

    def release_mine(self) -> None:
        """Drop this process's claims that were never sent (a batch that was stopped)."""
        with self._write() as db:
            db.execute(
                "DELETE FROM tasks WHERE owner = ? AND state = ?",
                (self._owner.token, str(State.CLAIMED)),
            )

    def task_state(self, task_id: str, state: State | None = None, **fields: Any) -> None:
        """Move a task's row on (ready, downloaded, moderated...), or note its last error.

        A task the ledger does not know (resumed from elsewhere) changes nothing.
        """
        if state is not None:
            fields["state"] = str(state)
            fields.setdefault("error", None)
        with self._write() as db:
            self._update(db, "task_id = ?", (task_id,), **fields)

    def durations(self, base_url: str, limit: int = 64) -> list[tuple[float, float]]:
        """The newest `limit` duration brackets of tasks submitted to `base_url`, oldest
        first: what a new client's poll schedule starts from."""
        query = (
            "SELECT * FROM tasks WHERE duration_high IS NOT NULL "
            "AND base_url = ? ORDER BY updated_at DESC LIMIT ?"
        )
        rows = self._read(query, (base_url, limit))
        return [(e.duration_low or 0.0, e.duration_high or 0.0) for e in reversed(rows)]

    def adopt(self, task_id: str, **fields: Any) -> None:
        """Record a task submitted elsewhere (or by an older version) if it is not known."""
        with self._write() as db:
            known = db.execute("SELECT 1 FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if known is None:
                state = fields.pop("state", State.SUBMITTED)
                self._insert(db, State(state), {**fields, "task_id": task_id})

    # -- claims --------------------------------------------------------------------------------

    def claim(
        self,
        scope: str,
        name: str,
        *,
        request_hash: str,
        resubmit_uncertain: bool = False,
        regenerate_changed: bool = False,
        **fields: Any,
    ) -> Claim:
        """Decide, in one transaction, what this process may do with a job.

        NEW leaves a row in state `claimed` owned by this process: call `sending(row)`
        just before the POST, or `release(row)` if it will not happen.
        """
        job = {**fields, "scope": scope, "name": name, "request_hash": request_hash}
        with self._write() as db:
            found = db.execute(
                "SELECT * FROM tasks WHERE scope = ? AND name = ? ORDER BY row DESC LIMIT 1",
                (scope, name),
            ).fetchone()
            latest = Entry(**{k: found[k] for k in _COLUMNS}) if found is not None else None
            if latest is None:
                return Claim(ClaimKind.NEW, self._claimed(db, job))
            state = State(latest.state)
            mine = latest.owner == self._owner.token
            alive = not mine and self._owner.is_alive(latest.owner, latest.pid)
            if state in (State.CLAIMED, State.SENDING) and alive:
                return Claim(ClaimKind.BUSY, latest)
            if state in (State.SUBMITTED, State.READY, State.KEPT) and alive:
                return Claim(ClaimKind.BUSY, latest)
            if state == State.CLAIMED:  # its process died before sending: nothing was sent
                db.execute("DELETE FROM tasks WHERE row = ?", (latest.row,))
                return Claim(ClaimKind.NEW, self._claimed(db, job))
            if state == State.SENDING:  # its process died mid-POST
                self._update(
                    db,
                    "row = ?",
                    (latest.row,),
                    state=str(State.UNCERTAIN),
                    error="the process sending this submit ended before its answer arrived",
                )
                latest = attrs.evolve(latest, state=str(State.UNCERTAIN))
                state = State.UNCERTAIN
            if state == State.UNCERTAIN:
                if not resubmit_uncertain:
                    return Claim(ClaimKind.UNCERTAIN, latest)
                self._update(db, "row = ?", (latest.row,), state=str(State.ABANDONED))
                return Claim(ClaimKind.NEW, self._claimed(db, job), replaced=latest)
            if state == State.DOWNLOADED and latest.output and Path(latest.output).exists():
                if latest.request_hash == request_hash:
                    return Claim(ClaimKind.DONE, latest)
                if not regenerate_changed:
                    return Claim(ClaimKind.CHANGED, latest)
                return Claim(ClaimKind.NEW, self._claimed(db, job), replaced=latest)
            if state in _HAS_TASK:
                self._update(db, "row = ?", (latest.row,), owner=self._owner.token, pid=os.getpid())
                kind = ClaimKind.KEPT if state == State.KEPT else ClaimKind.RESUME
                return Claim(kind, attrs.evolve(latest, owner=self._owner.token))
            # gone, rejected or abandoned: a new attempt
            return Claim(ClaimKind.NEW, self._claimed(db, job), replaced=latest)

    def _claimed(self, db: sqlite3.Connection, job: Mapping[str, Any]) -> Entry:
        row = self._insert(db, State.CLAIMED, job)
        found = db.execute("SELECT * FROM tasks WHERE row = ?", (row,)).fetchone()
        return Entry(**{k: found[k] for k in _COLUMNS})

    # -- reading -------------------------------------------------------------------------------

    def reap(self) -> int:
        """Rows left `sending` by dead processes become `uncertain`. Returns how many."""
        with self._lock:
            owners = self._read(
                "SELECT * FROM tasks WHERE state IN (?, ?) GROUP BY owner",
                (str(State.SENDING), str(State.CLAIMED)),
            )
            dead = [e.owner for e in owners if not self._owner.is_alive(e.owner, e.pid)]
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

    def entries(
        self,
        limit: int | None = None,
        *,
        states: Iterable[str] | None = None,
        scope: str | None = None,
    ) -> list[Entry]:
        """Attempts, newest first (claimed rows, which are not yet attempts, left out)."""
        where = ["state != ?"]
        args: list[Any] = [str(State.CLAIMED)]
        if states is not None:
            wanted = list(states)
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
        keep = [str(s) for s in (*OPEN, State.CLAIMED)]
        with self._write() as db:
            cursor = db.execute(
                f"DELETE FROM tasks WHERE created_at < ? AND state NOT IN "  # noqa: S608
                f"({', '.join('?' for _ in keep)})",
                (time.time() - older_than, *keep),
            )
            return int(cursor.rowcount)


# -- the stores this ledger replaces ----------------------------------------------------------

_OLD_JOURNAL = "tasks.jsonl"
OLD_BATCH_FILE = ".flux-canny-batch.jsonl"
_OLD_STATES = {
    "ready": State.DOWNLOADED,
    "moderated": State.MODERATED,
    "failed": State.FAILED,
    "not found": State.NOT_FOUND,
    "expired": State.EXPIRED,
    "stale": State.EXPIRED,
}


def _old_records(path: Path, key: str) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return merged
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get(key), str):
            merged.setdefault(record[key], {}).update(
                {k: v for k, v in record.items() if v is not None}
            )
    return merged


def _import_old_journal(ledger: Ledger) -> None:
    """Read the JSON-lines journal of earlier versions once, so nobody's tasks are forgotten."""
    old = ledger.path.parent / _OLD_JOURNAL
    if not old.exists():
        return
    for task_id, record in _old_records(old, "id").items():
        state = _OLD_STATES.get(str(record.get("status")), State.SUBMITTED)
        with contextlib.suppress(LedgerError):
            ledger.adopt(
                task_id,
                state=state,
                polling_url=record.get("polling_url"),
                base_url=record.get("base_url"),
                prompt=record.get("prompt"),
                finetune_id=record.get("finetune_id"),
                output=record.get("output"),
                seed=record.get("seed") if isinstance(record.get("seed"), int) else None,
                error=record.get("error"),
            )
    with contextlib.suppress(OSError):
        old.rename(old.with_name(_OLD_JOURNAL + ".imported"))


def import_old_batch_file(ledger: Ledger, folder: Path, scope: str) -> int:
    """Adopt the task ids of an older version's batch state file in `folder`."""
    old = folder / OLD_BATCH_FILE
    if not old.exists():
        return 0
    count = 0
    for name, record in _old_records(old, "name").items():
        task_id = record.get("task_id")
        if not isinstance(task_id, str):
            continue
        state = _OLD_STATES.get(str(record.get("status")), State.SUBMITTED)
        if state == State.DOWNLOADED:
            state = State.SUBMITTED  # its file is not known here: resuming is safe
        ledger.adopt(
            task_id,
            state=state,
            scope=scope,
            name=name,
            polling_url=record.get("polling_url"),
            base_url=record.get("base_url"),
        )
        count += 1
    old.rename(old.with_name(OLD_BATCH_FILE + ".imported"))
    return count
