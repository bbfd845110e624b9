"""The jobs file of `batch`: every line checked before the first submit (endpoint, fields,
names, images, output paths), so a typo on line 900 costs nothing. The file is read a line
at a time, and the good jobs go to the batch's spool (`_batch_spool`), not into memory.
A line names its `"endpoint"` (the canny finetune unless it does); one file may mix them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from .._operations import CANNY, Operation, operations, taken_elsewhere
from ..errors import (
    BudgetExhaustedError,
    FluxCannyError,
    ImageInputError,
    RequestValidationError,
    SubmitUncertainError,
)
from ..images import CheckedImageFile, check_image_file
from ..validation import did_you_mean, validator_for
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
    #: its image files by field, checked once here; read again (not re-checked) when sent
    images: Mapping[str, CheckedImageFile] = attrs.field(factory=dict)
    #: named from its content (the line gave no "name"): see `_content_name`
    derived_name: bool = False
    #: the endpoint it is sent to
    endpoint: str = CANNY

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


def _content_name(request_hash: str, images_digest: str) -> str:
    """An unnamed job's name, from its content: its images' digest, then the request's.
    A job is its content, never its line: inserting, moving or reordering lines names
    every job as before, and a job whose fields were edited keeps its images' prefix,
    which is how it is told apart from a new job (see `Job.family`)."""
    return f"job-{images_digest[:10]}-{request_hash[:10]}"


def _images_digest(endpoint: str, images: Mapping[str, bytes]) -> str:
    """The digest of a job's image files: the control image's own for the canny finetune
    (as before endpoints were named), else the endpoint's name and each field's image."""
    if endpoint == CANNY:
        return hashlib.sha256(images.get(IMAGE_FIELD, b"")).hexdigest()
    digest = hashlib.sha256(endpoint.encode())
    for field in sorted(images):
        digest.update(b"\0" + field.encode() + b"\0" + hashlib.sha256(images[field]).digest())
    return digest.hexdigest()


def _request_hash(endpoint: str, body: Mapping[str, Any], images: Mapping[str, bytes]) -> str:
    """Endpoint, fields and image bytes: a job whose prompt or picture changed is a
    changed job. The canny finetune's is the hash of earlier versions, which named no
    endpoint: a rerun of a jobs file they ran resumes its tasks, it never pays again."""
    fields = {k: v for k, v in body.items() if k not in images}
    if endpoint == CANNY:
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode())
        digest.update(hashlib.sha256(images.get(IMAGE_FIELD, b"")).digest())
        return digest.hexdigest()
    said = {"endpoint": endpoint, "fields": fields}
    digest = hashlib.sha256(json.dumps(said, sort_keys=True, default=str).encode())
    digest.update(_images_digest(endpoint, images).encode())
    return digest.hexdigest()


def _endpoint_of(line: int, job: dict[str, Any]) -> tuple[Operation | None, list[str]]:
    named = job.pop("endpoint", CANNY)
    known = operations()
    if isinstance(named, str) and named in known:
        return known[named], []
    hint = did_you_mean(named, known) if isinstance(named, str) else ""
    return None, [f"line {line}: no endpoint named {named!r:.80}{hint} (see flux-canny endpoints)"]


def _unknown_fields(line: int, op: Operation, job: Mapping[str, Any]) -> list[str]:
    problems = []
    named = "" if op.name == CANNY else f" for {op.name}"  # the default's words as before
    for field in sorted(set(job) - op.field_names):
        hint = did_you_mean(field, op.field_names)
        elsewhere = taken_elsewhere(field, but=op.name)
        taken = f" (a field of {', '.join(elsewhere)})" if elsewhere and not hint else ""
        problems.append(f"line {line}: unknown field {field!r}{named}{hint}{taken}")
    return problems


@attrs.define
class _Images:
    """A line's image fields, checked: the files (and their bytes, for the hash), the
    addresses passed on as given, and what was wrong."""

    files: dict[str, CheckedImageFile] = attrs.field(factory=dict)
    data: dict[str, bytes] = attrs.field(factory=dict)
    problems: list[str] = attrs.field(factory=list)
    pixels: int = 0


def _check_images(
    line: int, op: Operation, job: dict[str, Any], base: Path, advised: set[Path]
) -> _Images:
    """Each image field of `op` the line gives, as a path relative to the jobs file (or an
    https URL where the spec takes one); a required one missing is named here."""
    found = _Images()
    for field in op.image_fields:
        image = job.get(field)
        if image is None and field not in op.required:
            continue
        if field in op.url_fields and isinstance(image, str) and image.startswith("https://"):
            continue  # the server fetches it
        if not isinstance(image, str) or not image:
            found.problems.append(f"line {line}: {field} must be the path of an image file")
            continue
        path = (base / image).resolve()
        try:
            found.files[field], found.data[field] = check_image_file(
                path, advice=path not in advised
            )
            advised.add(path)
            info = found.files[field].info
            found.pixels = max(found.pixels, info.width * info.height)
        except ImageInputError as unreadable:
            found.problems.append(f"line {line}: {unreadable}")
        job[field] = str(path)
    return found


def _made_pixels(body: Mapping[str, Any], inputs: int) -> int:
    """About how many pixels the image will have: its inputs', or the size asked for."""
    if inputs:
        return inputs
    return int(body.get("width") or 1024) * int(body.get("height") or 1024)


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
    op, wrong = _endpoint_of(line, job)
    if op is None:
        return None, problems + wrong
    validator = validator_for(op.name)
    problems += _unknown_fields(line, op, job)
    images = _check_images(line, op, job, base, advised)
    problems += images.problems
    params = {k: v for k, v in job.items() if k in op.field_names}
    # the images as the validator sees them: given (or reported missing above)
    placeholders = {f: "" for f in op.image_fields if f in job or f in op.required}
    for error in validator.errors({**params, **placeholders}):
        where = ".".join(str(p) for p in error["loc"][1:]) or "body"
        problems.append(f"line {line}: {where}: {error['msg']}")
    if problems:
        return None, problems
    body = validator.normalise({**params, **placeholders})
    body.update({f: job[f] for f in op.image_fields if f in job})
    request_hash = _request_hash(op.name, body, images.data)
    derived = name is None
    if name is None:
        name = _content_name(request_hash, _images_digest(op.name, images.data))
    fmt = requested_format(body, op.name)
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
            expected_bytes=_made_pixels(body, images.pixels) * (3 if fmt == "png" else 1),
            images=images.files,
            derived_name=derived,
            endpoint=op.name,
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
