"""Claims: deciding, in one transaction, what this process may do with a batch job.

Two processes on one jobs file never submit the same job; a job with a task is resumed,
never submitted again; an uncertain one waits for the user; a changed one is reported.
A job is paid for again only on the server's positive word that its task ended without an
image (moderated, failed), or on the user's word: a task last seen not found or expired is
absence of evidence, so it is polled again (that is free) unless the user says to pay.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ._ledger_rows import HAS_TASK, Claim, ClaimKind, Entry, State, entry_of

if TYPE_CHECKING:
    from .ledger import Ledger

__all__ = ["claim"]


def claim(
    ledger: Ledger,
    scope: str,
    name: str,
    *,
    request_hash: str,
    resubmit_uncertain: bool = False,
    regenerate_changed: bool = False,
    resubmit_not_found: bool = False,
    resubmit_expired: bool = False,
    **fields: Any,
) -> Claim:
    """Decide, in one transaction, what this process may do with a job.

    NEW leaves a row in state `claimed` owned by this process: call `sending(row)`
    just before the POST, or `release(row)` if it will not happen.
    """
    job = {**fields, "scope": scope, "name": name, "request_hash": request_hash}
    with ledger._write() as db:
        found = db.execute(
            "SELECT * FROM tasks WHERE scope = ? AND name = ? ORDER BY row DESC LIMIT 1",
            (scope, name),
        ).fetchone()
        latest = entry_of(found) if found is not None else None
        if latest is None:
            return Claim(ClaimKind.NEW, _claimed(ledger, db, job))
        state = State(latest.state)
        mine = latest.owner == ledger._owner.token
        alive = not mine and ledger._owner.is_alive(latest.owner)
        if state in (State.CLAIMED, State.SENDING) and alive:
            return Claim(ClaimKind.BUSY, latest)
        if state in (State.SUBMITTED, State.READY, State.KEPT) and alive:
            return Claim(ClaimKind.BUSY, latest)
        if state == State.CLAIMED:  # its process died before sending: nothing was sent
            db.execute("DELETE FROM tasks WHERE row = ?", (latest.row,))
            return Claim(ClaimKind.NEW, _claimed(ledger, db, job))
        if state == State.SENDING:  # its process died mid-POST
            ledger._update(
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
            made_by = _maker(db, latest, fields.get("output"))
            edited = latest.request_hash != request_hash and not regenerate_changed
            if edited and made_by and made_by.request_hash != request_hash:
                return Claim(ClaimKind.CHANGED, made_by)
            ledger._update(db, "row = ?", (latest.row,), state=str(State.ABANDONED))
            image = made_by if made_by and made_by.state == State.DOWNLOADED else None
            return Claim(ClaimKind.NEW, _claimed(ledger, db, job), replaced=image or latest)
        if state == State.DOWNLOADED and latest.output and Path(latest.output).exists():
            if latest.request_hash == request_hash:
                return Claim(ClaimKind.DONE, latest)
            if not regenerate_changed:
                return Claim(ClaimKind.CHANGED, latest)
            return Claim(ClaimKind.NEW, _claimed(ledger, db, job), replaced=latest)
        lost = (state == State.NOT_FOUND and not resubmit_not_found) or (
            state == State.EXPIRED and not resubmit_expired
        )
        if state in HAS_TASK or (lost and latest.task_id):
            ledger._update(db, "row = ?", (latest.row,), owner=ledger._owner.token, pid=os.getpid())
            kind = ClaimKind.KEPT if state == State.KEPT else ClaimKind.RESUME
            return Claim(kind, attrs.evolve(latest, owner=ledger._owner.token))
        # moderated or failed (the server's word), gone by the user's word, rejected or
        # abandoned: a new attempt
        return Claim(ClaimKind.NEW, _claimed(ledger, db, job), replaced=latest)


def _maker(db: sqlite3.Connection, latest: Entry, output: Any) -> Entry | None:
    """What made the image at a job's output, if one is there: its last row that wrote it,
    else (the row is in another state folder) the uncertain attempt itself. The user's
    word to resubmit an uncertain submit is for that request, never for an edited one;
    the image it makes replaces the one there, as the regeneration it retries would."""
    if not isinstance(output, str) or not Path(output).exists():
        return None
    found = db.execute(
        "SELECT * FROM tasks WHERE scope = ? AND name = ? AND state = ? AND output = ?"
        " ORDER BY row DESC LIMIT 1",
        (latest.scope, latest.name, str(State.DOWNLOADED), output),
    ).fetchone()
    return entry_of(found) if found is not None else latest


def _claimed(ledger: Ledger, db: sqlite3.Connection, job: Mapping[str, Any]) -> Entry:
    row = ledger._insert(db, State.CLAIMED, job)
    found = db.execute("SELECT * FROM tasks WHERE row = ?", (row,)).fetchone()
    return entry_of(found)
