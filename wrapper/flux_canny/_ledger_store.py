"""What the ledger asks of the database it is kept in: a SQLite file on this machine
(`_ledger_db.SqliteStore`) or a PostgreSQL server shared by a fleet (`_ledger_pg.PgStore`).

The ledger's rules (write-ahead rows, claims, states) are written once, in SQL both
understand, against these protocols; each store brings its own transactions, its proof
of life of the processes writing it, and its own way to make a write durable. Nothing
here imports the ledger, so the ledger's modules form no cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = ["Cursor", "Db", "Liveness", "Refused", "Store", "Unsynced"]


class Unsynced(OSError):
    """A write committed that could not be made durable (SQLite: the WAL's fsync)."""


class Cursor(Protocol):
    """The part of a DB-API cursor the ledger uses."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Db(Protocol):
    """A connection in a transaction: SQL with `?` marks, rows read by column name."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...


class Liveness(Protocol):
    """Who is alive: this process's token, and whether another token's process is."""

    @property
    def token(self) -> str: ...

    def is_alive(self, token: str | None, db: Db | None = None) -> bool: ...


class Store(Protocol):
    """One ledger database, opened lazily, safe across fork (see `Ledger._before_fork`)."""

    #: how the ledger is named in messages (a path, or a connection string without password)
    where: str
    #: the exceptions of this database that mean "cannot read or write"
    failures: tuple[type[BaseException], ...]

    @property
    def owner(self) -> Liveness: ...

    def write(self) -> AbstractContextManager[Db]:
        """One transaction, durable when the block exits (else `Unsynced`)."""
        ...

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]: ...

    def lock_job(self, db: Db, scope: str, name: str) -> bool:
        """Hold the job for this transaction; False when another process holds it now."""
        ...

    def may_send(self, db: Db | None = None) -> str | None:
        """Why this process may no longer send (its lease lapsed), or None; asked before
        the write-ahead transaction and again inside it (`db`)."""
        ...

    def take_slot(self, db: Db, cap: int) -> int | None:
        """One of the key's `cap` active tasks held for this process: its id, 0 where
        the store counts none, None when all are taken now."""
        ...

    def dead_owners(self) -> list[str]:
        """Owners of open claims and sends whose processes are gone, each given out once."""
        ...

    def disconnect(self) -> None: ...

    def close(self) -> None: ...

    def before_fork(self) -> None: ...

    def after_fork_in_child(self) -> None: ...


class Refused(Exception):
    """The store cannot be used where it is; `doing` and `said` make the message, and
    `remedy` says what to change."""

    def __init__(self, doing: str, said: str, remedy: str | None = None) -> None:
        super().__init__(said)
        self.doing = doing
        self.said = said
        self.remedy = remedy
