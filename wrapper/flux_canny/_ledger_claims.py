"""Claims: deciding, in one transaction, what this process may do with a batch job.

Two processes on one jobs file never submit the same job; a job with a task is resumed,
never submitted again; an uncertain one waits for the user; a changed one is reported.
A job is paid for again only on the server's positive word that its task ended without an
image (moderated, failed), or on the user's word: a task last seen not found or expired is
absence of evidence, so it is polled again (that is free) unless the user says to pay.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs

from ._ledger_rows import HAS_TASK, Claim, ClaimKind, Entry, State, entry_of
from ._ledger_store import Db

__all__ = ["Rows", "decide", "latest"]

_DIED_SENDING = "the process sending this submit ended before its answer arrived"


class Rows(Protocol):
    """The ledger's rows inside one transaction: what a claim reads and writes."""

    @property
    def db(self) -> Db: ...

    @property
    def token(self) -> str:
        """This process's owner token."""
        ...

    def is_alive(self, token: str | None) -> bool: ...

    def insert(self, state: State, fields: Mapping[str, Any]) -> int: ...

    def update(self, where: str, args: tuple[Any, ...], **fields: Any) -> int: ...


def latest(db: Db, scope: str, name: str) -> Entry | None:
    """A job's newest row."""
    found = db.execute(
        "SELECT * FROM tasks WHERE scope = ? AND name = ? ORDER BY row DESC LIMIT 1",
        (scope, name),
    ).fetchone()
    return entry_of(found) if found is not None else None


def decide(
    rows: Rows,
    job: Mapping[str, Any],
    *,
    resubmit_uncertain: bool = False,
    regenerate_changed: bool = False,
    resubmit_not_found: bool = False,
    resubmit_expired: bool = False,
) -> Claim:
    """What this process may do with `job` (its scope, name, request hash and fields), in
    the caller's transaction, which holds the job."""
    request_hash = job["request_hash"]
    last = latest(rows.db, job["scope"], job["name"])
    if last is None:
        return Claim(ClaimKind.NEW, _claimed(rows, job))
    state = State(last.state)
    mine = last.owner == rows.token
    alive = not mine and rows.is_alive(last.owner)
    if state in (State.CLAIMED, State.SENDING) and alive:
        return Claim(ClaimKind.BUSY, last)
    if state in (State.SUBMITTED, State.READY, State.KEPT) and alive:
        return Claim(ClaimKind.BUSY, last)
    saved = bool(last.output) and Path(str(last.output)).exists()
    if state == State.DOWNLOADED and alive and not saved:
        # fetched by a live process that has yet to write the file (the library records
        # the download, the command the file after it): it is saving it now
        return Claim(ClaimKind.BUSY, last)
    if state == State.CLAIMED:  # its process died before sending: nothing was sent
        rows.db.execute("DELETE FROM tasks WHERE row = ?", (last.row,))
        return Claim(ClaimKind.NEW, _claimed(rows, job))
    if state == State.SENDING:  # its process died mid-POST
        rows.update("row = ?", (last.row,), state=str(State.UNCERTAIN), error=_DIED_SENDING)
        last = attrs.evolve(last, state=str(State.UNCERTAIN))
        state = State.UNCERTAIN
    if state == State.UNCERTAIN:
        if not resubmit_uncertain:
            return Claim(ClaimKind.UNCERTAIN, last)
        made_by = _maker(rows.db, last, job.get("output"))
        edited = last.request_hash != request_hash and not regenerate_changed
        if edited and made_by and made_by.request_hash != request_hash:
            return Claim(ClaimKind.CHANGED, made_by)
        rows.update("row = ?", (last.row,), state=str(State.ABANDONED))
        image = made_by if made_by and made_by.state == State.DOWNLOADED else None
        return Claim(ClaimKind.NEW, _claimed(rows, job), replaced=image or last)
    if state == State.DOWNLOADED and saved:
        if last.request_hash == request_hash:
            return Claim(ClaimKind.DONE, last)
        if not regenerate_changed:
            return Claim(ClaimKind.CHANGED, last)
        return Claim(ClaimKind.NEW, _claimed(rows, job), replaced=last)
    lost = (state == State.NOT_FOUND and not resubmit_not_found) or (
        state == State.EXPIRED and not resubmit_expired
    )
    if (state in HAS_TASK or (lost and last.task_id)) and last.request_hash not in (
        None,
        request_hash,
    ):
        # a task of the request before the edit (another endpoint's, maybe): its image is
        # not this job's, so it is never resumed as this job; the task stays in the ledger
        if not regenerate_changed:
            return Claim(ClaimKind.CHANGED, last)
        return Claim(ClaimKind.NEW, _claimed(rows, job), replaced=last)
    if state in HAS_TASK or (lost and last.task_id):
        rows.update("row = ?", (last.row,), owner=rows.token, pid=os.getpid())
        kind = ClaimKind.KEPT if state == State.KEPT else ClaimKind.RESUME
        return Claim(kind, attrs.evolve(last, owner=rows.token))
    # moderated or failed (the server's word), gone by the user's word, rejected or
    # abandoned: a new attempt
    return Claim(ClaimKind.NEW, _claimed(rows, job), replaced=last)


def _maker(db: Db, latest: Entry, output: Any) -> Entry | None:
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


def _claimed(rows: Rows, job: Mapping[str, Any]) -> Entry:
    row = rows.insert(State.CLAIMED, job)
    found = rows.db.execute("SELECT * FROM tasks WHERE row = ?", (row,)).fetchone()
    return entry_of(found)
