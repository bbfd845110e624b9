"""A real PostgreSQL server for the trials, started by the suite itself.

The server refuses to run as root, and CI runs as root: there it is started as `nobody`
(setpriv), its data folder in a fresh temporary folder owned by that user; as any other
user it runs as that user. It listens on a free loopback port. Each test gets a database
of its own (`pg_url`). Only when the server's binaries are absent is a test skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

__all__ = ["PostgresServer", "find_bindir", "pg_url", "postgres_server", "start_server"]

_BINDIRS = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)


_INITDB = ("-A", "trust", "-U", "flux", "-E", "UTF8", "--no-sync", "--no-instructions")


def find_bindir() -> Path | None:
    """Where initdb and pg_ctl are: PG_BINDIR, Debian's folders, else on PATH."""
    candidates = [os.environ.get("PG_BINDIR", ""), *_BINDIRS]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@attrs.define
class PostgresServer:
    bindir: Path
    root: Path
    port: int
    #: the command prefix that runs as the server's user (empty when not root)
    as_user: tuple[str, ...]
    #: fsync on, as a real server (`make bench`); the trials' need not outlive the machine
    durable: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://flux@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300"
        )
        if not self.durable:
            options += " -c fsync=off"
        self._ctl("-o", options, "-l", str(self.root / "log"), "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stopped at once, as a crash or a failover would: every session cut."""
        self._ctl("-m", "immediate", "-w", "-t", "60", "stop")

    def database(self) -> str:
        """A fresh database's connection string."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        return self.url(name)


@contextlib.contextmanager
def start_server(*, durable: bool = False) -> Iterator[PostgresServer | None]:
    """A server for the length of the block, or None when PostgreSQL is not installed."""
    bindir = find_bindir()
    if bindir is None:
        yield None
        return
    root = Path(tempfile.mkdtemp(prefix="flux-pg-"))  # short: the socket's path is bounded
    as_user: tuple[str, ...] = ()
    if os.geteuid() == 0:  # the server refuses root: run it as nobody
        shutil.chown(root, "nobody", "nogroup")
        as_user = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
    try:
        subprocess.run(
            [*as_user, str(bindir / "initdb"), "-D", str(root / "data"), *_INITDB],
            check=True,
            capture_output=True,
            timeout=120,
        )
        server = PostgresServer(bindir, root, _free_port(), as_user, durable)
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.SubprocessError):
                server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with start_server() as server:
        if server is None:
            why = "PostgreSQL's server binaries (initdb, pg_ctl) are not installed"
            if os.environ.get("CI"):  # CI must run the fleet's trials: a skip would hide it
                pytest.fail(f"{why}; .ci/run installs them (Debian's postgresql)")
            pytest.skip(why)
        yield server


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """A database of this test's own on the suite's server."""
    return postgres_server.database()
