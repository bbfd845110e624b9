"""Opening the ledger's SQLite file: private, WAL, synchronous=FULL, the schema made once
and migrated in place, with processes that open it together taking turns."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ._ledger_owner import fcntl
from ._ledger_rows import ADDED_COLUMNS, SCHEMA

__all__ = ["open_database"]


def open_database(path: Path, *, busy_timeout_ms: int) -> sqlite3.Connection:
    """The connection (autocommit; callers open their own transactions)."""
    with _opening(path):
        return _open(path, busy_timeout_ms)


@contextlib.contextmanager
def _opening(path: Path) -> Iterator[None]:
    """Processes opening the ledger at once take turns on a kernel lock: the first one
    creates the file, switches it to WAL and makes the schema, and the rest find it
    done. Without this they met in SQLite's busy handler, whose naps grow to 100 ms:
    opening took up to 1.5 s with eight processes starting together."""
    if fcntl is None:  # pragma: no cover - SQLite's busy timeout does the waiting
        yield
        return
    with open(path.with_name(path.name + ".open-lock"), "ab") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _open(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    # create it private before SQLite does; its -wal and -shm files follow its mode
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    db = sqlite3.connect(
        path,
        timeout=busy_timeout_ms / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    db.row_factory = sqlite3.Row
    db.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    # both need the write lock: skipped when another process already did them
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    known = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'tasks_created'"
    if db.execute(known).fetchone() is None:
        db.executescript(SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
    for added in ADDED_COLUMNS:
        if added not in columns:  # a ledger from an earlier version
            with contextlib.suppress(sqlite3.OperationalError):  # another process did it
                db.execute(f"ALTER TABLE tasks ADD COLUMN {added} REAL")
    return db
