"""The stores the ledger replaced (a JSON-lines journal, the batch state file): read once,
so nobody's tasks are forgotten after an upgrade."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ._ledger_rows import State
from .errors import LedgerError


class _Adopter(Protocol):
    """What an import writes to: the ledger's `adopt`."""

    def adopt(self, task_id: str, **fields: Any) -> None: ...


__all__ = ["OLD_BATCH_FILE", "import_old_batch_file", "import_old_journal"]

_OLD_JOURNAL = "tasks.jsonl"
OLD_BATCH_FILE = ".flux-canny-batch.jsonl"
_OLD_STATES = {
    "ready": State.DOWNLOADED,
    "moderated": State.MODERATED,
    "failed": State.FAILED,
    "not found": State.NOT_FOUND,
    "expired": State.EXPIRED,
    "stale": State.EXPIRED,
}


def _old_records(path: Path, key: str) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return merged
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get(key), str):
            merged.setdefault(record[key], {}).update(
                {k: v for k, v in record.items() if v is not None}
            )
    return merged


def import_old_journal(folder: Path, adopt: Callable[..., None]) -> None:
    """Read the JSON-lines journal of earlier versions in `folder` once, so nobody's tasks
    are forgotten; `adopt` is the ledger's."""
    old = folder / _OLD_JOURNAL
    if not old.exists():
        return
    for task_id, record in _old_records(old, "id").items():
        state = _OLD_STATES.get(str(record.get("status")), State.SUBMITTED)
        with contextlib.suppress(LedgerError):
            adopt(
                task_id,
                state=state,
                polling_url=record.get("polling_url"),
                base_url=record.get("base_url"),
                prompt=record.get("prompt"),
                finetune_id=record.get("finetune_id"),
                output=record.get("output"),
                seed=record.get("seed") if isinstance(record.get("seed"), int) else None,
                error=record.get("error"),
            )
    with contextlib.suppress(OSError):
        old.rename(old.with_name(_OLD_JOURNAL + ".imported"))


def import_old_batch_file(ledger: _Adopter, folder: Path, scope: str) -> int:
    """Adopt the task ids of an older version's batch state file in `folder`."""
    old = folder / OLD_BATCH_FILE
    if not old.exists():
        return 0
    count = 0
    for name, record in _old_records(old, "name").items():
        task_id = record.get("task_id")
        if not isinstance(task_id, str):
            continue
        state = _OLD_STATES.get(str(record.get("status")), State.SUBMITTED)
        if state == State.DOWNLOADED:
            state = State.SUBMITTED  # its file is not known here: resuming is safe
        ledger.adopt(
            task_id,
            state=state,
            scope=scope,
            name=name,
            polling_url=record.get("polling_url"),
            base_url=record.get("base_url"),
        )
        count += 1
    old.rename(old.with_name(OLD_BATCH_FILE + ".imported"))
    return count
