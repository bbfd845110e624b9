"""What the ledger holds: a row's states, its fields, the claims, and the schema.

See `flux_canny.ledger` for how rows move and why.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "FILE_NAME",
    "GONE",
    "OPEN",
    "STATE_DIR_ENV",
    "Claim",
    "ClaimKind",
    "Entry",
    "State",
    "default_ledger_path",
    "default_state_dir",
    "entry_of",
    "stored",
]

STATE_DIR_ENV = "FLUX_CANNY_STATE_DIR"
FILE_NAME = "ledger.sqlite3"


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
NO_TASK = frozenset({State.REJECTED, State.ABANDONED, State.CLAIMED})
HAS_TASK = frozenset({State.SUBMITTED, State.READY, State.DOWNLOADED, State.KEPT})


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
    #: the endpoint it was sent to ("flux-2-pro"); rows of earlier versions: the canny one
    operation: str | None = None

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


COLUMNS = tuple(f.name for f in attrs.fields(Entry))
SCHEMA = """
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
    seed_text TEXT,
    error TEXT,
    owner TEXT,
    pid INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    duration_low REAL,
    duration_high REAL,
    operation TEXT
);
CREATE INDEX IF NOT EXISTS tasks_job ON tasks (scope, name, row);
CREATE INDEX IF NOT EXISTS tasks_task ON tasks (task_id);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state);
CREATE INDEX IF NOT EXISTS tasks_created ON tasks (created_at);
"""

#: columns added since the first schema, with their types
ADDED_COLUMNS = {
    "duration_low": "REAL",
    "duration_high": "REAL",
    "seed_text": "TEXT",
    "operation": "TEXT",
}
#: PRAGMA user_version of a ledger set up by this version (see `_ledger_db._migrate`)
SCHEMA_VERSION = 2

_INT64 = range(-(1 << 63), 1 << 63)


def stored(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Entry fields as the table keeps them, every value exactly.

    The seed is any integer (the spec sets no range; the server echoes the request's),
    and an INTEGER column holds 64 bits: a seed of 2**63 raised OverflowError after
    the image was paid and downloaded. So the seed is kept as decimal text in
    `seed_text`, and in `seed` as well when it fits, for versions that read only that.
    """
    values = dict(fields)
    if "seed" in values:
        seed = values["seed"]
        exact = isinstance(seed, int) and not isinstance(seed, bool)
        values["seed"] = seed if exact and seed in _INT64 else None
        values["seed_text"] = str(seed) if exact else None
    return values


def entry_of(row: sqlite3.Row) -> Entry:
    """One row as an Entry: the seed read back from its exact text."""
    fields = {k: row[k] for k in COLUMNS}
    exact = row["seed_text"]
    if exact is not None:
        # not written by this version (not an integer): the integer column stands
        with contextlib.suppress(ValueError):
            fields["seed"] = int(exact)
    return Entry(**fields)
