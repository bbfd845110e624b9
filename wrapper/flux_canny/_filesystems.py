"""Which file system a path is on, where the system says (Linux's mountinfo).

The ledger needs it: its guarantees rest on SQLite's WAL, whose index is memory shared
by the processes of one machine, and on flock, which NFS turns into byte-range locks
with other rules. On a file system shared between machines, two of them writing one
ledger each see their own WAL and their own locks, and both can claim and pay for the
same job without either knowing. SQLite says as much: WAL does not work over a network
file system.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["network_filesystem"]

#: file system types that share files between machines: the kernel's network clients,
#: cluster file systems, and FUSE clients of remote storage
NETWORK = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "coda",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "ocfs2",
        "gfs2",
        "davfs",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.glusterfs",
        "fuse.ceph-fuse",
        "fuse.davfs2",
    }
)

_MOUNTINFO = "/proc/self/mountinfo"
_ESCAPE = re.compile(r"\\([0-7]{3})")  # the kernel writes space, tab, newline, \ as \ooo


def network_filesystem(path: Path) -> str | None:
    """The type of the network file system `path` (absolute, resolved) is on, or None:
    for a local one, and wherever the system does not say (then nothing is refused)."""
    try:
        with open(_MOUNTINFO, encoding="utf-8", errors="surrogateescape") as mounts:
            lines = mounts.read().splitlines()
    except OSError:
        return None
    target, deepest, kind = str(path), -1, None
    for line in lines:
        fields = line.split(" ")
        # id, parent, major:minor, root, mount point, options, optional fields..., "-", type
        if "-" not in fields[6:]:
            continue
        point = _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        # the deepest mount holding the path is its file system; of two on one point,
        # the later one, which hides the earlier
        if inside and len(point) >= deepest:
            deepest, kind = len(point), fields[fields.index("-", 6) + 1]
    return kind if kind in NETWORK else None
