"""Who is alive: each Ledger holds an exclusive flock on owners/<token>.lock while its
process lives; the kernel drops it on any exit, kill -9 included, so a row whose owner's
lock can be taken belongs to a dead process."""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from pathlib import Path
from typing import IO

__all__ = ["Owner", "fcntl"]

try:  # POSIX: liveness by flock, which the kernel releases when a process dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class Owner:
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

    def forked(self) -> Owner:
        """A forked child's own owner. The child lets go of its copy of the parent's file
        without unlocking it: the lock belongs to the open file, which the parent still
        holds, so the parent stays alive to the others and dies with the parent alone."""
        if self._handle is not None:
            self._handle.close()
        return Owner(self.folder)

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
