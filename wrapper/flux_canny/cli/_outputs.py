"""Where results are written, decided before anything is paid for.

An output path that cannot be used (it exists, its folder is a file, its extension
contradicts --output-format) is refused before the submit, not after the download.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from .._operations import CANNY
from .._spec import packaged_spec
from ..errors import LedgerError
from ..images import TEMP_NAME_EXTRA, GeneratedImage, write_atomic
from ..ledger import Entry, Ledger, State
from ._exit import EXIT_ERROR, BadInput
from ._options import request_fields

__all__ = [
    "FORMAT_FIELD",
    "ImageKept",
    "check_writable",
    "default_outputs",
    "extension_for",
    "finish_kept",
    "implied_format",
    "infer_format",
    "name_problem",
    "probe_folder",
    "requested_format",
    "safe_name",
    "save_paid",
    "space_problem",
]

FORMAT_FIELD = "output_format"
_SUFFIXES = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}
_EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}


def _formats(endpoint: str = CANNY) -> tuple[str, ...]:
    prop = request_fields(endpoint=endpoint).get(FORMAT_FIELD)
    if prop is None:
        return ()
    spec = packaged_spec()
    for branch in prop.get("anyOf", [prop]):
        values = spec.resolve(branch).get("enum")
        if values:
            return tuple(str(v) for v in values)
    return ()


def requested_format(params: Mapping[str, Any], endpoint: str = CANNY) -> str | None:
    """The output format a request of `endpoint` asks for, or its spec's default."""
    chosen = params.get(FORMAT_FIELD)
    if chosen is not None:
        return str(chosen)
    default = request_fields(endpoint=endpoint).get(FORMAT_FIELD, {}).get("default")
    return str(default) if default is not None else None


def implied_format(output: Path) -> str | None:
    """The image format a file name's extension stands for (None: no known one)."""
    return _SUFFIXES.get(output.suffix.lower())


def default_outputs(task_id: str) -> list[Path]:
    """Where `generate`/`result` put a task's image when no -o is given, per format."""
    return [Path(f"flux-{safe_name(task_id)}{ext}") for ext in dict.fromkeys(_EXTENSIONS.values())]


def extension_for(image_format: str | None) -> str:
    return _EXTENSIONS.get(image_format or "", f".{image_format}" if image_format else ".img")


def infer_format(
    output: Path | None, params: dict[str, Any], endpoint: str = CANNY
) -> dict[str, Any]:
    """Take the output format from `-o`'s extension when the flag is not given; refuse a
    contradiction (castle.png with --output-format jpeg)."""
    if output is None:
        return params
    suffix = output.suffix.lower()
    implied = _SUFFIXES.get(suffix)
    formats = _formats(endpoint)
    if suffix and (implied is None or implied not in formats):
        known = ", ".join(sorted(s for s, f in _SUFFIXES.items() if f in formats))
        raise BadInput(
            f"{output}: the API makes {' and '.join(formats)} images, not {suffix[1:]}; "
            f"give the file one of the extensions {known}"
        )
    if implied is None:
        return params
    given = params.get(FORMAT_FIELD)
    if given is None:
        return {**params, FORMAT_FIELD: implied}
    if str(given) != implied:
        raise BadInput(
            f"{output} has a {implied} extension but --output-format is {given}; make them agree"
        )
    return params


def check_writable(output: Path, *, force: bool) -> None:
    """Refuse, before any request, an output that exists or whose folder cannot be made.
    Missing folders are made here (as `mkdir -p` would), so the one that cannot be is
    named now, not after paying."""
    if output.is_dir():
        raise BadInput(f"{output} is a directory; give a file name")
    if os.path.lexists(output) and not force:  # a dangling link too: it would refuse the image
        raise BadInput(f"{output} exists; pass --force to overwrite it")
    folder = Path(os.path.normpath(output.absolute())).parent
    missing = folder
    while not missing.parent.exists() and missing.parent != missing:
        missing = missing.parent
    if not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            failed = missing if not missing.exists() else folder
            raise BadInput(
                f"cannot create the folder {failed} for {output.name}: {error.strerror or error}"
            ) from None
    if not folder.is_dir():
        raise BadInput(f"cannot write {output}: {folder} is not a directory")
    if not os.access(folder, os.W_OK):
        raise BadInput(f"cannot write to {folder}: permission denied")
    for problem in (name_problem(output), probe_folder(folder)):
        if problem is not None:
            raise BadInput(problem)


# -- checked before paying, kept after paying -----------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(text: str) -> str:
    """A file name made from server data (a task id): no separators, no dots first."""
    return _UNSAFE.sub("_", text)[:100].lstrip(".") or "task"


def name_problem(output: Path) -> str | None:
    """Why `output`'s name (or its temporary twin) is too long for its file system."""
    folder = Path(os.path.normpath(output.absolute())).parent
    while not folder.exists():
        folder = folder.parent
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    size = len(os.fsencode(output.name))
    if size + TEMP_NAME_EXTRA > limit:
        return (
            f"the name {output.name[:40]}... is {size} bytes; with the temporary file's "
            f"{TEMP_NAME_EXTRA} more it exceeds this file system's {limit}: shorten it"
        )
    return None


def probe_folder(folder: Path) -> str | None:
    """Try a real temporary file in `folder`: permissions alone do not tell (read-only
    mounts, ACLs, quotas). Returns the reason it cannot be written, or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".flux-canny-probe.", dir=folder)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as error:
        return f"cannot write to {folder}: {error.strerror or error}"
    return None


def space_problem(folder: Path, needed: int) -> str | None:
    """Whether the file system has room for about `needed` bytes, where the OS tells."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return None
    if free < needed:
        return f"{folder} has {free / 1e6:.1f} MB free; the images need about {needed / 1e6:.1f} MB"
    return None


class ImageKept(click.ClickException):
    """The paid image could not be written where asked, and was kept next to the ledger."""

    exit_code = EXIT_ERROR

    def __init__(self, target: Path, kept: Path | None, error: OSError, task_id: str) -> None:
        self.target, self.kept, self.task_id = target, kept, task_id
        where = (
            f"the image was kept at {kept}; `flux-canny result {task_id}` (or the same batch "
            "again) finishes it"
            if kept is not None
            else f"the task is recorded: `flux-canny result {task_id}` downloads it again"
        )
        super().__init__(f"could not write {target} ({error.strerror or error}); {where}")


def save_paid(image: GeneratedImage, target: Path, ledger: Ledger, *, overwrite: bool) -> Path:
    """Write a paid image to `target` and record it; never throw the image away.

    If the final write fails (disk full, folder gone, permissions, a file or link that
    appeared there meanwhile), the image goes next to the ledger and the ledger's row says
    where; if even that fails, the row stays `ready` so the task is downloaded again,
    never submitted again.
    """
    task_id = image.task_id or "unknown"
    try:
        path = image.save(target, overwrite=overwrite)
    except OSError as error:
        keep = ledger.path.parent / "kept" / f"{safe_name(task_id)}{extension_for(image.format)}"
        try:
            image.save(keep, overwrite=True)
        except OSError:
            with contextlib.suppress(LedgerError):
                ledger.task_state(task_id, State.READY, error=f"could not write {target}")
            raise ImageKept(target, None, error, task_id) from error
        with contextlib.suppress(LedgerError):
            ledger.task_state(
                task_id,
                State.KEPT,
                kept_at=str(keep),
                output=str(target.absolute()),
                error=f"could not write {target}: {error.strerror or error}",
            )
        raise ImageKept(target, keep, error, task_id) from error
    with contextlib.suppress(LedgerError):
        ledger.task_state(task_id, State.DOWNLOADED, output=str(path.absolute()), kept_at=None)
    return path


def finish_kept(entry: Entry, target: Path, ledger: Ledger, *, overwrite: bool) -> Path:
    """Move an image kept by an earlier run to where it belongs (no network call)."""
    assert entry.kept_at is not None
    assert entry.task_id is not None
    kept = Path(entry.kept_at)
    data = kept.read_bytes()
    path = write_atomic(target, data, overwrite=overwrite)
    ledger.task_state(entry.task_id, State.DOWNLOADED, output=str(path.absolute()), kept_at=None)
    kept.unlink(missing_ok=True)
    return path


def open_ledger() -> Ledger:
    """The ledger, checked before anything is paid for: unusable is bad input (exit 2)."""
    ledger = Ledger()
    try:
        ledger.entries(1)
    except LedgerError as error:
        raise BadInput(str(error)) from error
    return ledger
