"""The jobs file of `batch`: every line checked before the first submit (fields, names,
images, output paths), so a typo on line 900 costs nothing. The file is read a line at a
time, and the good jobs go to the batch's spool (`_batch_spool`), not into memory."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from ..errors import (
    BudgetExhaustedError,
    FluxCannyError,
    ImageInputError,
    RequestValidationError,
    SubmitUncertainError,
)
from ..images import CheckedImageFile, check_image_file
from ..validation import default_validator, did_you_mean
from ._exit import BadInput, one_line
from ._options import IMAGE_FIELD
from ._outputs import (
    extension_for,
    name_problem,
    requested_format,
)

__all__ = [
    "SETTLED",
    "Job",
    "JobsCheck",
    "Outcome",
    "check_jobs",
    "invalid_line",
    "submit_word",
]

_NAME = re.compile(r"^[\w][\w.-]{0,127}$")


@attrs.frozen
class Job:
    line: int
    name: str
    fields: Mapping[str, Any]
    output: Path
    #: the request as the server would see it: every field and the image's bytes
    request_hash: str = ""
    #: a rough size of the image it will make, for the free-space check
    expected_bytes: int = 0
    #: its control image, checked once here; read again (not re-checked) when sent
    image: CheckedImageFile | None = None
    #: named from its content (the line gave no "name"): see `_content_name`
    derived_name: bool = False

    @property
    def family(self) -> str:
        """The prefix shared by the unnamed jobs of one control image: where an edited
        unnamed job finds the job it was edited from."""
        return self.name.rpartition("-")[0] + "-" if self.derived_name else self.name


@attrs.define
class Outcome:
    job: Job
    status: str  # ok, skipped, uncertain, changed, busy, kept, or a failure word
    task_id: str | None = None
    path: Path | None = None
    error: str | None = None


# -- reading and checking the jobs file ------------------------------------------------------


def _content_name(request_hash: str, image: bytes) -> str:
    """An unnamed job's name, from its content: the image's digest, then the request's.
    A job is its content, never its line: inserting, moving or reordering lines names
    every job as before, and a job whose fields were edited keeps its image's prefix,
    which is how it is told apart from a new job (see `Job.family`)."""
    return f"job-{hashlib.sha256(image).hexdigest()[:10]}-{request_hash[:10]}"


def _request_hash(body: Mapping[str, Any], image: bytes) -> str:
    """Fields and image bytes: a job whose prompt or picture changed is a changed job."""
    fields = {k: v for k, v in body.items() if k != IMAGE_FIELD}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode())
    digest.update(hashlib.sha256(image).digest())
    return digest.hexdigest()


def _check_job(
    line: int, raw: str, base: Path, out_dir: Path, advised: set[Path]
) -> tuple[Job | None, list[str]]:
    try:
        job = json.loads(raw)
    except json.JSONDecodeError as bad:
        return None, [f"line {line}: not JSON ({bad.msg})"]
    if not isinstance(job, dict):
        return None, [f"line {line}: a job is a JSON object, got {type(job).__name__}"]
    problems: list[str] = []
    name = job.pop("name", None)
    if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
        problems.append(f"line {line}: name {name!r} must be letters, digits, '.', '-', '_'")
    validator = default_validator()
    unknown = sorted(set(job) - validator.field_names)
    for field in unknown:
        hint = did_you_mean(field, validator.field_names)
        problems.append(f"line {line}: unknown field {field!r}{hint}")
    image = job.get(IMAGE_FIELD)
    data = b""
    pixels = 0
    checked: CheckedImageFile | None = None
    if not isinstance(image, str) or not image:
        problems.append(f"line {line}: {IMAGE_FIELD} must be the path of an image file")
    else:
        path = (base / image).resolve()
        try:
            checked, data = check_image_file(path, advice=path not in advised)
            advised.add(path)
            pixels = checked.info.width * checked.info.height
        except ImageInputError as unreadable:
            problems.append(f"line {line}: {unreadable}")
        job[IMAGE_FIELD] = str(path)
    params = {k: v for k, v in job.items() if k in validator.field_names}
    for error in validator.errors({**params, IMAGE_FIELD: ""}):
        where = ".".join(str(p) for p in error["loc"][1:]) or "body"
        problems.append(f"line {line}: {where}: {error['msg']}")
    if problems:
        return None, problems
    body = validator.normalise({**params, IMAGE_FIELD: ""})
    body[IMAGE_FIELD] = job[IMAGE_FIELD]
    request_hash = _request_hash(body, data)
    derived = name is None
    if name is None:
        name = _content_name(request_hash, data)
    fmt = requested_format(body)
    output = out_dir / f"{name}{extension_for(fmt)}"
    too_long = name_problem(output)
    if too_long is not None:
        return None, [f"line {line}: {too_long}"]
    if output.is_symlink():  # dangling or not, the image would not be written there
        return None, [f"line {line}: {output} is a symbolic link; remove it or name the job"]
    return (
        Job(
            line=line,
            name=str(name),
            fields=body,
            output=output,
            request_hash=request_hash,
            expected_bytes=pixels * (3 if fmt == "png" else 1),
            image=checked,
            derived_name=derived,
        ),
        [],
    )


@attrs.frozen
class JobsCheck:
    """What the check found: how many jobs will run, the problems of the lines that will
    not, and the bytes the images not yet made will take (for the free-space check)."""

    jobs: int
    problems: list[str]
    expected_bytes: int


def _lines(jobs_file: Path) -> Iterator[tuple[int, str]]:
    """(number, text) of each non-blank line, read one at a time. Lines end at \\n, \\r\\n
    or \\r only: a JSON string may hold U+2028, which str.splitlines took for a break."""
    with jobs_file.open(encoding="utf-8") as lines:
        for number, raw in enumerate(lines, start=1):
            if raw.strip():
                yield number, raw


def check_jobs(jobs_file: Path, out_dir: Path, keep: Callable[[Job], int | None]) -> JobsCheck:
    """Check every line. `keep` stores a good job (in the batch's spool) and returns None,
    or the line of an earlier job with the same name, which the later one may not take."""
    problems: list[str] = []
    advised: set[Path] = set()  # the images whose size advice was logged
    count = expected = 0
    try:
        for number, raw in _lines(jobs_file):
            job, found = _check_job(number, raw, jobs_file.parent, out_dir, advised)
            if job is None:
                problems += found
                continue
            earlier = keep(job)
            if earlier is not None:
                problems.append(
                    f'line {number}: the same job as line {earlier} (give one a "name" to '
                    "make both)"
                    if job.derived_name
                    else f"line {number}: name {job.name!r} is also on line {earlier}"
                )
                continue
            count += 1
            if not job.output.exists():
                expected += job.expected_bytes
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"cannot read {jobs_file}: {one_line(error)}") from None
    if not count and not problems:
        raise BadInput(f"{jobs_file} has no jobs")
    return JobsCheck(count, problems, expected)


def invalid_line(line: int, why: str) -> Outcome:
    """A line --skip-invalid leaves out, as a summary row."""
    job = Job(line=line, name=f"line-{line}", fields={}, output=Path())
    return Outcome(job, "invalid", error=why)


# -- running ---------------------------------------------------------------------------------


#: the statuses of a job that needs nothing more
SETTLED = frozenset({"ok", "skipped"})


def submit_word(error: FluxCannyError) -> str:
    if isinstance(error, BudgetExhaustedError):
        return "over budget"
    if isinstance(error, SubmitUncertainError):
        return "uncertain"
    if isinstance(error, RequestValidationError | ImageInputError):
        return "invalid"
    return "rejected"
