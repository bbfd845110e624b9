"""A small, append-only record of submitted tasks, so a paid task is never lost.

The CLI writes a line when a task is submitted and another when its outcome is known;
`flux-canny tasks` and `flux-canny result` read it back. It lives in the user's state
directory (platformdirs) unless FLUX_CANNY_STATE_DIR points elsewhere. The API key is
never written. Each record is one `write()` of one line on an O_APPEND descriptor, and a
crash can at worst cut the last line, which the reader skips. Writers take a lock file
(filelock): the file is rewritten smaller past 1 MiB, and a record appended to the old
file while another process rewrote it would be lost with that file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import platformdirs
from filelock import FileLock

__all__ = ["STATE_DIR_ENV", "Journal", "JournalEntry", "default_journal_path"]

STATE_DIR_ENV = "FLUX_CANNY_STATE_DIR"
_FILE_NAME = "tasks.jsonl"
_PROMPT_CHARS = 200
#: beyond this size the file is rewritten with only the newest tasks
_COMPACT_BYTES = 1 << 20
_KEEP_AFTER_COMPACT = 1000
#: how long a writer waits for another process's write or compaction (milliseconds each)
_LOCK_TIMEOUT = 10.0


def default_journal_path() -> Path:
    override = os.environ.get(STATE_DIR_ENV)
    folder = Path(override) if override else platformdirs.user_state_path("flux-canny")
    return folder / _FILE_NAME


@attrs.frozen
class JournalEntry:
    """Everything known about one task, merged from its records (newest wins)."""

    id: str
    polling_url: str | None = None
    base_url: str | None = None
    submitted_at: float | None = None
    updated_at: float | None = None
    status: str = "submitted"
    prompt: str | None = None
    finetune_id: str | None = None
    output: str | None = None
    seed: int | None = None
    error: str | None = None

    @property
    def is_open(self) -> bool:
        """Submitted, and no outcome written yet: it may still be waiting for you."""
        return self.status in ("submitted", "interrupted", "timeout")


class Journal:
    """Append task records to a JSON-lines file and read them back merged by task id."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        on_error: Callable[[OSError], None] | None = None,
    ) -> None:
        """With `on_error`, a record that cannot be written is handed to it instead of
        raising: a journal is a safety net, and losing one must not fail a generation."""
        self.path = Path(path) if path is not None else default_journal_path()
        self.on_error = on_error

    def record_submit(
        self,
        task_id: str,
        *,
        polling_url: str | None,
        base_url: str,
        prompt: str | None = None,
        finetune_id: str | None = None,
        output: str | os.PathLike[str] | None = None,
    ) -> None:
        self._append(
            {
                "id": task_id,
                "polling_url": polling_url,
                "base_url": base_url,
                "submitted_at": time.time(),
                "status": "submitted",
                "prompt": (prompt or "")[:_PROMPT_CHARS] or None,
                "finetune_id": finetune_id,
                "output": os.fspath(output) if output is not None else None,
            }
        )

    def record_outcome(self, task_id: str, status: str, **details: Any) -> None:
        """Record how a task ended (ready, moderated, failed, timeout, interrupted...)."""
        fields = {k: v for k, v in details.items() if k in _FIELDS and v is not None}
        if "output" in fields:
            fields["output"] = os.fspath(fields["output"])
        self._append({"id": task_id, "status": status, **fields})

    def entries(self, limit: int | None = None) -> list[JournalEntry]:
        """Tasks, most recently submitted first."""
        merged = self._merged()
        ordered = sorted(merged.values(), key=lambda e: e.get("submitted_at") or 0, reverse=True)
        chosen = ordered if limit is None else ordered[:limit]
        return [_entry(record) for record in chosen]

    def find(self, task_id: str) -> JournalEntry | None:
        record = self._merged().get(task_id)
        return _entry(record) if record is not None else None

    # -- file handling ------------------------------------------------------------------------

    def _append(self, record: Mapping[str, Any]) -> None:
        try:
            self._write(record)
        except OSError as error:
            if self.on_error is None:
                raise
            self.on_error(error)

    def _write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps({**record, "updated_at": time.time()}, separators=(",", ":")) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # filelock's Timeout is an OSError, so on_error sees a stuck lock like any failure
        lock = FileLock(self.path.with_name(f"{self.path.name}.lock"), timeout=_LOCK_TIMEOUT)
        with lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if size > _COMPACT_BYTES:
                self._compact()

    def _records(self) -> Iterator[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if isinstance(record, dict) and isinstance(record.get("id"), str):
                yield record

    def _merged(self) -> dict[str, dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for record in self._records():
            known = merged.setdefault(record["id"], {})
            known.update({k: v for k, v in record.items() if v is not None})
        return merged

    def _compact(self) -> None:
        keep = self.entries(_KEEP_AFTER_COMPACT)
        text = "".join(
            json.dumps(attrs.asdict(e), separators=(",", ":")) + "\n" for e in reversed(keep)
        )
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)


_FIELDS = frozenset(f.name for f in attrs.fields(JournalEntry))


def _entry(record: Mapping[str, Any]) -> JournalEntry:
    return JournalEntry(**{k: v for k, v in record.items() if k in _FIELDS})
