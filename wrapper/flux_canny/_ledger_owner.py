"""Who is alive: each Ledger holds an exclusive lock on owners/<token>.lock while its
process lives; the system drops it on any exit, kill -9 included, so a row whose owner's
lock can be taken belongs to a dead process.

The lock is flock on POSIX and a byte-range lock (msvcrt.locking) on Windows; both belong
to the process and end with it, so a reused pid can never pass for a live owner. Where
there is neither, every other owner counts as alive: its claims wait rather than being
taken over, since taking one over could pay for a job twice. (Checking the pid instead,
as this did without flock, was worse on Windows: there `os.kill(pid, 0)` does not ask.
Signal 0 is CTRL_C_EVENT, a Ctrl+C to that process's console group, and any other signal
is TerminateProcess: a second batch on one folder could stop the first mid-submit, or
whatever program had its pid since.)
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import uuid
from pathlib import Path
from typing import IO

__all__ = ["Owner", "fcntl"]

try:  # POSIX: liveness by flock, which the kernel releases when a process dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: errnos of a lock another process holds (msvcrt says EACCES, or EDEADLOCK once it gave up)
_HELD = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK}


def _try_lock(fd: int, *, shared: bool = False) -> bool | None:
    """Lock the file without waiting, with a lock this process holds until it closes the
    file or ends. False: another process holds it. None: no locks on this system."""
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows: no shared locks there
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        elif fcntl is not None:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        else:  # pragma: no cover - neither flock nor msvcrt
            return None
    except OSError as error:
        if error.errno in _HELD:
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    """Windows asks for a byte-range lock to be let go before its file is closed; flock
    ends with the close."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


class Owner:
    """This ledger's proof of life: a lock held on owners/<token>.lock until exit."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.token = uuid.uuid4().hex
        self._handle: IO[bytes] | None = None

    def hold(self) -> None:
        if self._handle is not None:
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = open(self.folder / f"{self.token}.lock", "wb")  # noqa: SIM115
        try:
            if _try_lock(handle.fileno()) is False:  # a new file: no one else has it
                raise OSError(errno.EAGAIN, "owner file locked by another process")
        except BaseException:
            handle.close()
            raise
        self._handle = handle

    def forked(self) -> Owner:
        """A forked child's own owner. The child lets go of its copy of the parent's file
        without unlocking it: the lock belongs to the open file, which the parent still
        holds, so the parent stays alive to the others and dies with the parent alone."""
        if self._handle is not None:
            self._handle.close()
        return Owner(self.folder)

    def release(self) -> None:
        """Let go, then remove the file (Windows removes no file that is open; a token is
        never reused, so nobody can take the name in between)."""
        if self._handle is not None:
            with contextlib.suppress(OSError):  # closing lets go of it all the same
                _unlock(self._handle.fileno())
            self._handle.close()
            self._handle = None
            with contextlib.suppress(OSError):
                (self.folder / f"{self.token}.lock").unlink()

    def is_alive(self, token: str | None, db: object = None) -> bool:
        """Whether the process that wrote `token` still runs (ours always does)."""
        if token is None:
            return False
        if token == self.token:
            return True
        path = self.folder / f"{token}.lock"
        try:
            handle = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return False
        with handle:
            taken = _try_lock(handle.fileno(), shared=True)
            if taken is not True:  # held by its live owner, or no locks to tell by
                return True
            with contextlib.suppress(OSError):  # closing lets go of it all the same
                _unlock(handle.fileno())
        with contextlib.suppress(OSError):
            path.unlink()  # a dead owner's file, closed first for Windows: tidy up
        return False
