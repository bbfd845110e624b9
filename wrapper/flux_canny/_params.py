"""The request's optional fields, typed: generated from openapi.json by
tools/gen_params.py (`make generate`); do not edit.

The types reach users' type checkers (`**params: Unpack[GenerationParams]`); the
bounds are checked at run time by the validator, from the same spec.
"""

from __future__ import annotations

from typing import Literal, TypedDict

__all__ = ["GenerationParams"]


class GenerationParams(TypedDict, total=False):
    """The fields of FinetuneCannyInputs besides control_image, prompt, finetune_id."""

    finetune_strength: float  # >= 0, <= 2, default 1.1
    canny_low_threshold: int | None  # >= 0, <= 500, default 50
    canny_high_threshold: int | None  # >= 0, <= 500, default 200
    prompt_upsampling: bool  # default false
    seed: int | None
    steps: int  # >= 15, <= 50, default 50
    output_format: Literal["jpeg", "png"] | None  # default "jpeg"
    guidance: float  # >= 1, <= 100, default 30
    safety_tolerance: int  # >= 0, <= 6, default 2
    webhook_url: str | None  # at most 2083 characters
    webhook_secret: str | None
