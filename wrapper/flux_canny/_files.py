"""Writing files so that nothing half-written is ever seen: a temporary file in the same
folder, fsynced, then renamed (or hard-linked, to refuse overwriting) into place, and the
folder synced so the new name survives a power cut too."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

__all__ = ["TEMP_NAME_EXTRA", "full_sync", "sync_folder", "write_atomic"]


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells (os.umask can only
    be read by setting it, which would race with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_TEMP_SUFFIX = ".part"
#: bytes write_atomic's temporary name adds to the target's: "." + name + "." + 8 random
#: characters (tempfile's) + ".part"; a name within NAME_MAX less this is writable
TEMP_NAME_EXTRA = 2 + 8 + len(_TEMP_SUFFIX)


def write_atomic(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> Path:
    """Write through a temporary file in the same folder, fsynced, then renamed into place.

    Readers see the old file or the whole new one, never a part. With overwrite=False the
    final step is a hard link, which fails atomically (FileExistsError) if `path` exists,
    even when another process created it a moment ago.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as error:  # a file where a folder should be: not "the image exists"
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(error.filename)) from error
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=_TEMP_SUFFIX, dir=target.parent
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:  # closed whatever fails (Windows deletes no open file)
            if hasattr(os, "fchmod"):  # not on Windows before Python 3.13, where modes mean little
                os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; an image is no secret
            handle.write(data)
            handle.flush()
            full_sync(handle.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    # the rename is in the folder, not the file: until the folder is synced, a power cut
    # can leave no image where the ledger, synced next, says one was written
    sync_folder(target.parent)
    return target


def sync_folder(folder: Path) -> None:
    """Make the folder's entries durable: a file made or renamed there survives a power
    cut only once its folder is synced too."""
    if os.name != "posix":  # Windows cannot open a folder to sync it
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        full_sync(fd)
    finally:
        os.close(fd)


try:  # macOS: fsync stops at the drive's own cache, which a power cut empties
    import fcntl

    _FULLFSYNC: int | None = getattr(fcntl, "F_FULLFSYNC", None)
except ImportError:  # pragma: no cover - Windows
    _FULLFSYNC = None


def full_sync(fd: int) -> None:
    """The file's data on the disk itself. Where the system has F_FULLFSYNC (macOS), it
    asks the drive to write out its cache too, as SQLite's fullfsync does; a plain fsync
    there can leave a submit's row in that cache and lose it to a power cut. A file
    system that cannot (some network or FAT ones) gets the plain fsync."""
    if _FULLFSYNC is not None:
        try:
            fcntl.fcntl(fd, _FULLFSYNC)
        except OSError:
            pass
        else:
            return
    os.fsync(fd)
