"""`batch`'s spool: the checked jobs and their outcomes, in a private temporary SQLite
database (the standard library's; SQLite deletes it on close and keeps only a bounded
page cache in memory).

The jobs file is checked line by line before the first submit and each good job goes
here; the run takes them back a page at a time, and each outcome comes here until the
summary prints them in line order. Held in lists, 5,000 jobs and their outcomes took
3.7 KB each; now a batch's memory is that of the jobs in flight.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import attrs

from .._image_formats import ImageInfo
from ..images import CheckedImageFile
from ._batch_jobs import SETTLED, Job, Outcome

__all__ = ["Row", "Spool"]

#: a finished job as the summary shows it: line, name, status, task id, path, error,
#: endpoint
Row = tuple[int, str, str, str | None, str | None, str | None, str | None]

_PAGE = 256

_SCHEMA = """
CREATE TABLE job (
    line INTEGER PRIMARY KEY, name TEXT, fields TEXT, output TEXT, request_hash TEXT,
    expected_bytes INTEGER, images TEXT, derived INTEGER, endpoint TEXT
);
CREATE UNIQUE INDEX job_name ON job (name);
CREATE TABLE outcome (
    line INTEGER PRIMARY KEY, name TEXT, status TEXT, task_id TEXT, path TEXT, error TEXT,
    endpoint TEXT
);
"""


class Spool:
    def __init__(self) -> None:
        # "": a temporary database on disk, private to this connection
        self._db = sqlite3.connect("", check_same_thread=False)
        self._db.execute("PRAGMA cache_size=-256")  # KiB: it is read in order, once
        self._db.executescript(_SCHEMA)
        self.counts: Counter[str] = Counter()

    def close(self) -> None:
        self._db.close()

    # -- the jobs ------------------------------------------------------------------------------

    def add_job(self, job: Job) -> int | None:
        """Keep a checked job; or, if an earlier line has its name, that line's number."""
        earlier = self._db.execute("SELECT line FROM job WHERE name = ?", (job.name,)).fetchone()
        if earlier is not None:
            return int(earlier[0])
        images = {
            field: [str(image.path), image.size, image.mtime_ns, *attrs.astuple(image.info)]
            for field, image in job.images.items()
        }
        with self._db:
            self._db.execute(
                "INSERT INTO job VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.line,
                    job.name,
                    json.dumps(dict(job.fields)),
                    str(job.output),
                    job.request_hash,
                    job.expected_bytes,
                    json.dumps(images),
                    job.derived_name,
                    job.endpoint,
                ),
            )
        return None

    def has_name(self, name: str) -> bool:
        """Whether the jobs file holds a job of this name."""
        found = self._db.execute("SELECT 1 FROM job WHERE name = ?", (name,))
        return found.fetchone() is not None

    def jobs(self) -> Iterator[Job]:
        """In line order, a page at a time (outcomes are written between pages)."""
        after = -1
        while True:
            page = self._db.execute(
                "SELECT * FROM job WHERE line > ? ORDER BY line LIMIT ?", (after, _PAGE)
            ).fetchall()
            if not page:
                return
            for row in page:
                yield _job(row)
            after = page[-1][0]

    # -- the outcomes --------------------------------------------------------------------------

    def add(self, outcome: Outcome) -> None:
        job = outcome.job
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO outcome VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job.line,
                    job.name,
                    outcome.status,
                    outcome.task_id,
                    str(outcome.path) if outcome.path else None,
                    outcome.error,
                    job.endpoint if job.fields else None,  # an invalid line has none
                ),
            )
        self.counts[outcome.status] += 1

    def has(self, job: Job) -> bool:
        found = self._db.execute("SELECT 1 FROM outcome WHERE line = ?", (job.line,))
        return found.fetchone() is not None

    def __len__(self) -> int:
        return sum(self.counts.values())

    def rows(self, *, problems_only: bool = False) -> Iterator[Row]:
        """The outcomes in line order, a few at a time."""
        sql = "SELECT line, name, status, task_id, path, error, endpoint FROM outcome"
        args: tuple[str, ...] = ()
        if problems_only:
            sql += f" WHERE status NOT IN ({', '.join('?' for _ in SETTLED)})"
            args = tuple(SETTLED)
        yield from self._db.execute(sql + " ORDER BY line", args)

    def all_settled(self) -> bool:
        return all(status in SETTLED for status in self.counts)


def _job(row: tuple[object, ...]) -> Job:
    line, name, fields, output, request_hash, expected, images, derived, endpoint = row
    checked = {
        field: CheckedImageFile(Path(path), size, mtime, ImageInfo(fmt, width, height))
        for field, (path, size, mtime, fmt, width, height) in json.loads(str(images)).items()
    }
    return Job(
        line=int(str(line)),
        name=str(name),
        fields=json.loads(str(fields)),
        output=Path(str(output)),
        request_hash=str(request_hash),
        expected_bytes=int(str(expected)),
        images=checked,
        derived_name=bool(derived),
        endpoint=str(endpoint),
    )
