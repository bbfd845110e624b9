"""The ledger on PostgreSQL: one database shared by workers on many machines.

The rows and their rules are the SQLite ledger's (same table, same SQL); what changes
is what one machine's kernel used to give:
- Liveness by lease: each worker holds a row in `leases` that a heartbeat thread renews
  three times a lease (on the server's clock, so machines' clocks need not agree). A
  worker whose lease lapsed is dead to the fleet: the first `reap` to delete its lease
  row (one DELETE, so exactly one worker does) frees its claims and marks its `sending`
  rows uncertain. A worker that could not renew in time sends nothing more: `sending`
  checks its lease in the very transaction that writes the row ahead, holding the lease
  row (FOR KEY SHARE) so that no reaper can delete it between the check and the commit
  (while its heartbeat, which only moves `expires_at`, never waits for a sender).
- Claims: a job is decided under a transaction-scoped advisory lock on its scope and
  name, so two workers never both find it free; the others see it claimed and busy.
- The key's active tasks: a row in `slots` each, taken under one advisory lock while
  fewer than the cap are held by live workers, so the fleet together never exceeds it.
- Durability: PostgreSQL's commit (synchronous_commit on) is on the server's disk when
  it returns; nothing more to sync here.

Every wait is bounded: connect_timeout, and statement and lock timeouts on the session.
A server that went away fails the call (a LedgerError from the ledger), and the next call
connects again.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ._ledger_rows import SCHEMA, State
from ._ledger_store import Db

__all__ = ["DEFAULT_LEASE", "PgStore"]

#: seconds a worker that stopped renewing counts as alive (renewed three times a lease)
DEFAULT_LEASE = 30.0
_CONNECT_TIMEOUT = 10  # seconds; libpq takes whole seconds
_LOCKS = 0x666C7578  # "flux": the advisory locks' class (the migration's, the slots')

#: versioned migrations, applied in order on open under one advisory lock; version 1 is
#: the SQLite ledger's schema in PostgreSQL's types, with the fleet's two tables
_MIGRATIONS = (
    SCHEMA.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
    .replace(" REAL", " DOUBLE PRECISION")
    .replace("seed INTEGER", "seed BIGINT")
    + """
CREATE TABLE IF NOT EXISTS leases (
    owner TEXT PRIMARY KEY,
    pid INTEGER,
    host TEXT,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS slots (
    id BIGSERIAL PRIMARY KEY,
    owner TEXT NOT NULL,
    taken_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
""",
)

_LAPSED = "the worker sending this submit stopped renewing its lease before its answer arrived"


@functools.lru_cache(maxsize=256)
def _dialect(sql: str) -> str:
    """The ledger's SQL (`?` marks) as psycopg takes it; an insert returns its row."""
    translated = sql.replace("%", "%%").replace("?", "%s")
    if translated.startswith("INSERT INTO tasks"):
        translated += " RETURNING row"
    return translated


def _shown(dsn: str) -> str:
    """The connection string as messages may show it: without its password, whether in the
    user part (`user:pw@host`) or in the query (`?password=pw`, libpq's other spelling)."""
    try:
        parts = urllib.parse.urlsplit(dsn)
        if parts.password is not None:
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
            parts = parts._replace(netloc=f"{parts.username}:***@{host}{port}")
        query = [
            (name, "***" if name.lower() == "password" else value)
            for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        ]
        shown = parts._replace(query=urllib.parse.urlencode(query, safe="*"))
        return urllib.parse.urlunsplit(shown)
    except ValueError:
        return "postgresql://(a connection string that does not parse)"


class _Done:
    """A statement's outcome once read: the cursor's rows, count and inserted row."""

    def __init__(self, cursor: psycopg.Cursor[dict[str, Any]], *, inserted: bool) -> None:
        self.rowcount = cursor.rowcount
        self.lastrowid: int | None = None
        self._rows: list[Any] = []
        if inserted:
            self.lastrowid = int(cursor.fetchone()["row"])  # type: ignore[index]
        elif cursor.description is not None:
            self._rows = cursor.fetchall()

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows


class _PgDb:
    """A connection in a transaction, speaking the ledger's SQL."""

    def __init__(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> _Done:
        translated = _dialect(sql)
        cursor = self._conn.execute(translated, tuple(parameters))
        return _Done(cursor, inserted=translated.endswith(" RETURNING row"))


def _connect(dsn: str, timeout: float) -> psycopg.Connection[dict[str, Any]]:
    """A session whose every wait is bounded by `timeout` seconds, that notices a server
    gone silent (TCP keepalives), in autocommit: transactions are opened explicitly."""
    conn = psycopg.connect(
        dsn,
        autocommit=True,
        row_factory=dict_row,
        connect_timeout=_CONNECT_TIMEOUT,
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=2,
        keepalives_count=3,
        application_name="flux-canny",
    )
    millis = max(1, int(timeout * 1000))
    conn.execute(f"SET statement_timeout = {millis}")
    conn.execute(f"SET lock_timeout = {millis}")
    # a row written ahead is on the server's disk before the POST, whatever the server's
    # default: with it off, a crash of the server loses the last commits
    conn.execute("SET synchronous_commit = on")
    return conn


def _migrate(conn: psycopg.Connection[dict[str, Any]]) -> None:
    """Apply the migrations this database lacks, once, whoever opens it first."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCKS,))
        conn.execute("CREATE TABLE IF NOT EXISTS flux_canny_schema (version INTEGER NOT NULL)")
        found = conn.execute("SELECT max(version) AS v FROM flux_canny_schema").fetchone()
        done = int(found["v"] or 0) if found else 0
        if done > len(_MIGRATIONS):
            raise psycopg.errors.FeatureNotSupported(
                f"the ledger's database is at schema version {done}, newer than this "
                f"flux-canny knows ({len(_MIGRATIONS)}): upgrade flux-canny"
            )
        for version, step in enumerate(_MIGRATIONS[done:], done + 1):
            conn.execute(step)
            conn.execute("INSERT INTO flux_canny_schema (version) VALUES (%s)", (version,))


class Lease:
    """This worker's proof of life: a row in `leases`, renewed by a heartbeat thread on a
    connection of its own, until `release`."""

    def __init__(self, dsn: str, lease: float, timeout: float) -> None:
        self.token = uuid.uuid4().hex
        self._dsn = dsn
        self.lease = lease
        self._timeout = timeout
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renewed = 0.0  # time.monotonic() of the last renewal
        #: set when the lease was found gone (reaped): this worker sends nothing more
        self.lost = False

    def hold(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        """Take the lease (on the caller's connection), and start renewing it."""
        if self._thread is not None:
            return
        conn.execute(
            "INSERT INTO leases (owner, pid, host, expires_at) VALUES "
            "(%s, %s, %s, now() + make_interval(secs => %s)) "
            "ON CONFLICT (owner) DO UPDATE SET expires_at = EXCLUDED.expires_at",
            (self.token, os.getpid(), socket.gethostname(), self.lease),
        )
        self._renewed = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="flux-canny-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease / 3):
            self.renew()

    def renew(self) -> None:
        """Push the lease on; a lease found gone means this worker was reaped."""
        if not self.held:
            return
        try:
            with self._lock:
                if self._conn is None or self._conn.closed:
                    self._conn = _connect(self._dsn, min(self._timeout, self.lease / 3))
                renewed = self._conn.execute(
                    "UPDATE leases SET expires_at = now() + make_interval(secs => %s) "
                    "WHERE owner = %s",
                    (self.lease, self.token),
                ).rowcount
        except psycopg.Error:
            self._drop()
            return
        if renewed:
            self._renewed = time.monotonic()
        else:
            self.lost = True

    def _drop(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(psycopg.Error):
                    self._conn.close()
            self._conn = None

    @property
    def held(self) -> bool:
        return self._thread is not None

    def fresh(self) -> bool:
        """Renewed recently enough that no other worker can have taken it for lapsed."""
        return not self.lost and time.monotonic() - self._renewed < self.lease * 2 / 3

    def is_alive(self, token: str | None, db: Db | None = None) -> bool:
        if token is None:
            return False
        if token == self.token:
            return True
        query = "SELECT 1 FROM leases WHERE owner = ? AND expires_at > now()"
        if db is not None:
            return db.execute(query, (token,)).fetchone() is not None
        with self._lock:  # pragma: no cover - the ledger always asks in its transaction
            if self._conn is None or self._conn.closed:
                self._conn = _connect(self._dsn, self._timeout)
            return _PgDb(self._conn).execute(query, (token,)).fetchone() is not None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self._timeout)
        self._thread = None
        self._drop()


#: objects a forked child inherited and must never close: closing a connection sends
#: the server a goodbye on the socket the parent still uses
_INHERITED: list[object] = []


class PgStore:
    """The ledger in a PostgreSQL database (see the module's docstring)."""

    failures: tuple[type[BaseException], ...] = (psycopg.Error,)

    def __init__(self, dsn: str, *, lock_timeout: float, lease: float | None = None) -> None:
        self._dsn = dsn
        self.where = _shown(dsn)
        self._timeout = lock_timeout
        self._lease_seconds = lease or DEFAULT_LEASE
        self._lease = Lease(dsn, self._lease_seconds, lock_timeout)
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        self._migrated = False

    @property
    def owner(self) -> Lease:
        return self._lease

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn = _connect(self._dsn, self._timeout)
        try:
            if not self._migrated:
                _migrate(conn)
                self._migrated = True
            self._lease.hold(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    @contextlib.contextmanager
    def _broken_drops(self) -> Iterator[None]:
        """A connection the server dropped is let go: the next call connects again."""
        try:
            yield
        except psycopg.Error:
            if self._conn is not None and (self._conn.broken or self._conn.closed):
                self.disconnect()
            raise

    @contextlib.contextmanager
    def write(self) -> Iterator[_PgDb]:
        with self._broken_drops():
            conn = self._connection()
            with conn.transaction():
                yield _PgDb(conn)

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._broken_drops():
            return _PgDb(self._connection()).execute(sql, args).fetchall()

    def lock_job(self, db: Db, scope: str, name: str) -> bool:
        """Wait (bounded by lock_timeout) for any other worker deciding on this job."""
        db.execute("SELECT pg_advisory_xact_lock(hashtext(?), hashtext(?))", (scope, name))
        return True

    def may_send(self, db: Db | None = None) -> str | None:
        lease = self._lease
        if lease.lost:
            return "this worker's lease lapsed and the others took back its jobs"
        if db is None:
            if not lease.held:
                return None  # taken with the connection, in the transaction that asks
            if not lease.fresh():
                lease.renew()
            return None if lease.fresh() else "this worker could not renew its lease in time"
        held = db.execute(
            "SELECT 1 FROM leases WHERE owner = ? AND expires_at > now() FOR KEY SHARE",
            (lease.token,),
        ).fetchone()
        return None if held is not None else "this worker's lease lapsed"

    def take_slot(self, db: Db, cap: int) -> int | None:
        db.execute("SELECT pg_advisory_xact_lock(?, 1)", (_LOCKS,))
        db.execute(
            "DELETE FROM slots WHERE owner NOT IN "
            "(SELECT owner FROM leases WHERE expires_at > now())"
        )
        held = db.execute("SELECT count(*) AS n FROM slots").fetchone()
        if int(held["n"]) >= cap:
            return None
        found = db.execute(
            "INSERT INTO slots (owner) VALUES (?) RETURNING id", (self._lease.token,)
        ).fetchone()
        return int(found["id"])

    def dead_owners(self) -> list[str]:
        """Lapsed leases, each deleted by one reaper (the DELETE gives it to one), and
        owners of open rows with no lease at all (a reaper that died half-way)."""
        with self.write() as db:
            lapsed = db.execute(
                "DELETE FROM leases WHERE expires_at < now() RETURNING owner"
            ).fetchall()
            orphans = db.execute(
                "SELECT DISTINCT owner FROM tasks WHERE state IN (?, ?) AND owner IS NOT NULL "
                "AND owner NOT IN (SELECT owner FROM leases)",
                (str(State.SENDING), str(State.CLAIMED)),
            ).fetchall()
        return sorted({row["owner"] for row in (*lapsed, *orphans)} - {self._lease.token})

    def disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        """Let go of the lease (and the slots still held): this worker ended cleanly."""
        self._lease.stop()
        conn = self._conn
        if conn is not None and not conn.closed:  # never connects again just to let go
            with contextlib.suppress(psycopg.Error), conn.transaction():
                db = _PgDb(conn)
                db.execute("DELETE FROM slots WHERE owner = ?", (self._lease.token,))
                db.execute("DELETE FROM leases WHERE owner = ?", (self._lease.token,))
        self.disconnect()

    def before_fork(self) -> None:
        self.disconnect()

    def after_fork_in_child(self) -> None:
        """A lease of its own: the parent's is the parent's, renewed by its thread."""
        _INHERITED.append(self._lease)
        self._lease = Lease(self._dsn, self._lease_seconds, self._timeout)
