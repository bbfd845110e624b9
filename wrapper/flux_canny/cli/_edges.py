"""`edges`: preview the Canny edge map locally, before paying for a generation.

The thresholds' bounds and defaults come from the spec's canny_*_threshold fields, and
the same validator that guards requests judges them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import ImageInputError
from ..images import inspect_image, read_image_file, write_atomic
from ..validation import default_validator
from ._exit import BadInput
from ._options import request_fields
from ._outputs import check_writable

__all__ = ["edges"]

LOW_FIELD, HIGH_FIELD = "canny_low_threshold", "canny_high_threshold"
_EXTRA_HINT = (
    "pip install 'flux-canny[edges]' (from a checkout: pip install '.[edges]', "
    "or make install, which includes it)"
)


def _default(field: str) -> Any:
    return request_fields().get(field, {}).get("default")


def _check_thresholds(low: int, high: int) -> None:
    """Judge the thresholds as the server would judge them in a request."""
    validator = default_validator()
    probe = {"prompt": "", "finetune_id": "", "control_image": "", LOW_FIELD: low, HIGH_FIELD: high}
    flags = {LOW_FIELD: "--low", HIGH_FIELD: "--high"}
    problems = [
        f"{flags[e['loc'][-1]]} {e['input']}: {e['msg']}"
        for e in validator.errors(probe)
        if e["loc"][-1] in flags
    ]
    if low > high:
        problems.append(f"--low ({low}) is above --high ({high}); Canny needs low <= high")
    if problems:
        raise BadInput("; ".join(problems))


def _load_cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise click.ClickException(
            f"the edges preview needs OpenCV, which is an optional extra: {_EXTRA_HINT}"
        ) from None
    return cv2


@click.command(
    epilog="""\b
Examples:
  flux-canny edges photo.jpg -o edges.png
  flux-canny edges photo.jpg --low 100 --high 250 -o edges.png --force"""
)
@click.argument("control", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--low", type=int, default=_default(LOW_FIELD), show_default=True, help="Low threshold."
)
@click.option(
    "--high", type=int, default=_default(HIGH_FIELD), show_default=True, help="High threshold."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to write the edge map (PNG).",
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def edges(control: Path, low: int, high: int, output: Path, force: bool) -> None:
    """Write the Canny edge map of CONTROL at the given thresholds, as a PNG.

    Tune --low/--high here, then pass the same values to `generate` as
    --canny-low-threshold/--canny-high-threshold. Needs the `edges` extra (OpenCV).
    This is OpenCV's Canny on the grayscale image; BFL's preprocessing may differ in
    detail.
    """
    _check_thresholds(low, high)
    check_writable(output, force=force)
    cv2 = _load_cv2()
    data = read_image_file(control)
    inspect_image(data)  # the same structural checks a generation's control image gets
    import numpy as np

    gray = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise ImageInputError(f"OpenCV cannot decode {control}")
    edge_map = cv2.Canny(gray, low, high)
    ok, png = cv2.imencode(".png", edge_map)
    if not ok:
        raise click.ClickException("OpenCV could not encode the edge map")
    path = write_atomic(output, png.tobytes(), overwrite=force)
    share = float((edge_map > 0).mean())
    click.echo(f"{edge_map.shape[1]}x{edge_map.shape[0]}, {share:.1%} edge pixels", err=True)
    click.echo(str(path))
