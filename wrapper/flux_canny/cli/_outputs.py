"""Where results are written, decided before anything is paid for.

An output path that cannot be used (it exists, its folder is a file, its extension
contradicts --output-format) is refused before the submit, not after the download.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._spec import packaged_spec
from ._exit import BadInput
from ._options import request_fields

__all__ = ["FORMAT_FIELD", "check_writable", "extension_for", "infer_format", "requested_format"]

FORMAT_FIELD = "output_format"
_SUFFIXES = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}
_EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}


def _formats() -> tuple[str, ...]:
    prop = request_fields().get(FORMAT_FIELD)
    if prop is None:
        return ()
    spec = packaged_spec()
    for branch in prop.get("anyOf", [prop]):
        values = spec.resolve(branch).get("enum")
        if values:
            return tuple(str(v) for v in values)
    return ()


def requested_format(params: Mapping[str, Any]) -> str | None:
    """The output format a request asks for, or the spec's default."""
    chosen = params.get(FORMAT_FIELD)
    if chosen is not None:
        return str(chosen)
    default = request_fields().get(FORMAT_FIELD, {}).get("default")
    return str(default) if default is not None else None


def extension_for(image_format: str | None) -> str:
    return _EXTENSIONS.get(image_format or "", f".{image_format}" if image_format else ".img")


def infer_format(output: Path | None, params: dict[str, Any]) -> dict[str, Any]:
    """Take the output format from `-o`'s extension when the flag is not given; refuse a
    contradiction (castle.png with --output-format jpeg)."""
    if output is None:
        return params
    implied = _SUFFIXES.get(output.suffix.lower())
    if implied is None or implied not in _formats():
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
    """Refuse, before any request, an output that exists or whose folder cannot be made."""
    if output.is_dir():
        raise BadInput(f"{output} is a directory; give a file name")
    if output.exists() and not force:
        raise BadInput(f"{output} exists; pass --force to overwrite it")
    folder = Path(os.path.normpath(output.absolute())).parent
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise BadInput(f"cannot write {output}: {existing.name} is not a directory")
    if not os.access(existing, os.W_OK):
        raise BadInput(f"cannot write to {existing}: permission denied")
