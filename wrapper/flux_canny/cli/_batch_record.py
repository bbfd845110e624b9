"""The record that travels with a batch's output folder.

The ledger lives in the user's state folder, so a rerun by another user, in a container
or under sudo, found no record of the tasks it had paid for and paid again. The output
folder therefore carries its own: every submit of its jobs is appended to a JSON-lines
file there, written ahead (on the disk before the POST) as the ledger's row is, and its
task id and states after. A rerun whose ledger does not know those tasks adopts them
first, so it resumes instead of paying, and reports a submit cut short as uncertain.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._files import sync_folder
from ..errors import LedgerError, clean
from ..ledger import Claim, Ledger, State

__all__ = ["RECORD_FILE", "RecordedLedger"]

log = logging.getLogger("flux_canny")

RECORD_FILE = ".flux-canny-tasks.jsonl"

#: how a task's last recorded state is adopted by a ledger that never saw it
_ADOPTED = {
    "submitted": State.SUBMITTED,
    "ready": State.SUBMITTED,
    "kept": State.SUBMITTED,  # its kept copy is in the other state folder: fetch it again
    "downloaded": State.DOWNLOADED,
    "moderated": State.MODERATED,
    "failed": State.FAILED,
    "not_found": State.NOT_FOUND,
    "expired": State.EXPIRED,
    "uncertain": State.UNCERTAIN,  # an answer named it but could not be read in full
}


class RecordedLedger(Ledger):
    """The ledger, with every change to the jobs of one output folder also appended to
    that folder's record (see the module's docstring)."""

    def __init__(
        self, folder: Path, scope: str, path: str | os.PathLike[str] | None = None
    ) -> None:
        super().__init__(path)
        self.record = folder / RECORD_FILE
        self._scope = scope
        self._names: dict[int, tuple[str, dict[str, Any]]] = {}  # row → (name, job fields)
        self._tasks: dict[str, str] = {}  # task id → name
        self._synced = False

    # -- writing -------------------------------------------------------------------------------

    def _append(self, entry: dict[str, Any], *, sync: bool) -> None:
        line = json.dumps({**entry, "at": time.time()}, allow_nan=False) + "\n"
        fd = os.open(self.record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if sync and not self._synced:
            sync_folder(self.record.parent)
            self._synced = True

    def claim(self, scope: str, name: str, **fields: Any) -> Claim:
        claimed = super().claim(scope, name, **fields)
        if scope == self._scope:
            job = {k: fields.get(k) for k in ("request_hash", "base_url", "output")}
            self._names[claimed.entry.row] = (name, job)
            if claimed.entry.task_id:
                self._tasks[claimed.entry.task_id] = name
        return claimed

    def sending(self, row: int | None = None, **fields: Any) -> int:
        written = super().sending(row, **fields)
        known = self._names.get(written)
        if known is not None:
            name, job = known
            # the endpoint too: a ledger that adopts the task must know what it is of
            said = {"operation": fields.get("operation"), **job}
            attempt = {"name": name, "attempt": self._attempt(written), **said}
            try:
                self._append({**attempt, "state": "sending"}, sync=True)
            except OSError as error:  # not written ahead: not sent
                with contextlib.suppress(LedgerError):
                    super().rejected(written, "never sent: the output folder's record failed")
                raise LedgerError(
                    f"cannot write {self.record}: {error} (nothing was submitted that could "
                    "not be recorded)"
                ) from error
        return written

    def submitted(self, row: int, task_id: str, polling_url: str | None) -> None:
        super().submitted(row, task_id, polling_url)
        known = self._names.get(row)
        if known is not None:
            self._tasks[task_id] = known[0]
            said = {"task_id": task_id, "polling_url": polling_url, "state": "submitted"}
            self._mirror(row, said, sync=True)

    def uncertain(self, row: int, error: str, *, task_id: str | None = None) -> None:
        super().uncertain(row, error, task_id=task_id)
        if task_id is not None and row in self._names:
            self._tasks[task_id] = self._names[row][0]
        self._mirror(row, {"state": "uncertain", "task_id": task_id}, sync=True)

    def rejected(self, row: int, error: str) -> None:
        super().rejected(row, error)
        self._mirror(row, {"state": "rejected"}, sync=False)

    def task_state(self, task_id: str, state: State | None = None, **fields: Any) -> None:
        super().task_state(task_id, state, **fields)
        name = self._tasks.get(task_id)
        if name is not None and state is not None:
            with contextlib.suppress(OSError):
                self._append({"name": name, "task_id": task_id, "state": str(state)}, sync=False)

    def _mirror(self, row: int, said: dict[str, Any], *, sync: bool) -> None:
        """After the ledger has it: the record is a second copy, so a failure here is
        said, not raised (the ledger's row is what this run goes by)."""
        known = self._names.get(row)
        if known is None:
            return
        try:
            self._append({"name": known[0], "attempt": self._attempt(row), **said}, sync=sync)
        except OSError as error:
            log.warning("cannot add to %s: %s", self.record, clean(str(error)))

    def _attempt(self, row: int) -> str:
        return f"{self.where}#{row}"

    # -- reading: what another ledger paid for -------------------------------------------------

    def adopt_record(self) -> int:
        """Adopt what the folder's record knows and this ledger does not: tasks paid
        through another state folder, and submits cut short there (as uncertain)."""
        adopted = 0
        mine = f"{self.where}#"
        for name, attempt in _latest_attempts(self.record):
            if str(attempt.get("attempt", "")).startswith(mine):
                continue  # written through this very ledger: its rows say more
            known = self.job(self._scope, name)
            if known is not None and known.created_at > float(attempt.get("at", 0)):
                continue  # this ledger's attempt is the newer one
            fields = {
                "scope": self._scope,
                "name": name,
                "request_hash": attempt.get("request_hash"),
                "base_url": attempt.get("base_url"),
                "output": attempt.get("output"),
                "operation": attempt.get("operation"),
            }
            task_id = attempt.get("task_id")
            if isinstance(task_id, str) and task_id:
                if self.find(task_id) is None:
                    state = _ADOPTED.get(str(attempt.get("state")), State.SUBMITTED)
                    polling_url = attempt.get("polling_url")
                    url = polling_url if isinstance(polling_url, str) else None
                    self.adopt(task_id, state=state, polling_url=url, **fields)
                    adopted += 1
            elif attempt.get("state") in ("sending", "uncertain") and known is None:
                row = Ledger.sending(self, None, **fields)
                Ledger.uncertain(
                    self,
                    row,
                    "a submit through another state folder was cut short before its answer "
                    f"arrived (recorded in {self.record})",
                )
                adopted += 1
        return adopted


def _latest_attempts(record: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each job's last attempt in the record, its lines merged in order."""
    attempts: dict[str, dict[str, Any]] = {}
    latest: dict[str, str] = {}
    by_task: dict[str, str] = {}
    try:
        with record.open(encoding="utf-8") as lines:
            for raw in lines:
                with contextlib.suppress(ValueError):
                    entry = json.loads(raw)
                    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                        continue
                    key = entry.get("attempt") or by_task.get(str(entry.get("task_id")))
                    if not isinstance(key, str):
                        continue
                    if entry.get("state") == "sending":
                        attempts[key] = {}
                        latest[entry["name"]] = key
                    merged = attempts.setdefault(key, {})
                    at = merged.get("at", entry.get("at"))
                    merged.update({k: v for k, v in entry.items() if v is not None}, at=at)
                    if isinstance(entry.get("task_id"), str):
                        by_task[entry["task_id"]] = key
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as error:
        raise LedgerError(f"cannot read {record}: {error}") from error
    for name, key in latest.items():
        yield name, attempts[key]
