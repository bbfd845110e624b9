"""The request fields, typed per endpoint: generated from openapi.json by
tools/gen_params.py (`make generate`); do not edit.

One TypedDict per request schema, and `@overload`s of submit/generate/prepare on the
endpoint's `Literal` name, so a type checker refuses a misspelt field and a field of
another endpoint. The bounds are checked at run time by the validator, from the same
spec. `GenerationParams` is the seed's optional fields, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal, Required, TypedDict, Unpack, overload

if TYPE_CHECKING:
    from ._wire import SubmitBody
    from .images import GeneratedImage
    from .models import Result, Task

__all__ = [
    "AsyncCalls",
    "Endpoint",
    "FinetuneCannyInputsFields",
    "FinetuneFluxProFillInputsFields",
    "FinetuneFluxUltraInputFields",
    "Flux2FlexInputsFields",
    "Flux2InputsFields",
    "Flux2KleinInputsFields",
    "FluxDevInputsFields",
    "FluxKontextProInputsFields",
    "FluxPro11InputsFields",
    "FluxProExpandInputsFields",
    "FluxProFillInputsFields",
    "FluxUltraInputFields",
    "GenerationParams",
    "PrepareCalls",
    "SyncCalls",
]

#: every endpoint's name (the last segment of its path)
Endpoint = Literal[
    "flux-pro-1.1",
    "flux-dev",
    "flux-pro-1.1-ultra",
    "flux-pro-1.0-fill",
    "flux-pro-1.0-expand",
    "flux-kontext-pro",
    "flux-kontext-max",
    "flux-2-max",
    "flux-2-klein-9b",
    "flux-2-klein-4b",
    "flux-2-klein-9b-preview",
    "flux-2-pro-preview",
    "flux-2-pro",
    "flux-2-flex",
    "flux-pro-1.0-fill-finetuned",
    "flux-pro-1.1-ultra-finetuned",
    "flux-pro-1.0-canny-finetuned",
]


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


class FluxPro11InputsFields(TypedDict, total=False):
    """The request of flux-pro-1.1."""

    prompt: str | None  # default ""
    image_prompt: Any  # an image: path, bytes, file, PIL, numpy, base64
    width: int  # >= 256, <= 1440, default 1024
    height: int  # >= 256, <= 1440, default 768
    prompt_upsampling: bool  # default false
    seed: int | None
    safety_tolerance: int  # >= 0, <= 6, default 2
    output_format: Literal["jpeg", "png", "webp"] | None  # default "jpeg"
    webhook_url: str | None  # at most 2083 characters
    webhook_secret: str | None


class FluxDevInputsFields(TypedDict, total=False):
    """The request of flux-dev."""

    prompt: str  # default ""
    image_prompt: Any  # an image: path, bytes, file, PIL, numpy, base64
    width: int  # >= 256, <= 1440, default 1024
    height: int  # >= 256, <= 1440, default 768
    steps: int | None  # >= 1, <= 50, default 28
    prompt_upsampling: bool  # default false
    seed: int | None
    guidance: float | None  # >= 1.5, <= 5, default 3.0
    safety_tolerance: int  # >= 0, <= 6, default 2
    output_format: Literal["jpeg", "png", "webp"] | None  # default "jpeg"
    webhook_url: str | None  # at most 2083 characters
    webhook_secret: str | None


class FluxUltraInputFields(TypedDict, total=False):
    """The request of flux-pro-1.1-ultra."""

    prompt: str | None  # default ""
    prompt_upsampling: bool  # default false
    seed: int | None
    aspect_ratio: str  # default "16:9"
    safety_tolerance: int  # >= 0, <= 6, default 2
    output_format: Literal["jpeg", "png", "webp"] | None  # default "jpeg"
    raw: bool  # default false
    image_prompt: Any  # an image: path, bytes, file, PIL, numpy, base64
    image_prompt_strength: float  # >= 0, <= 1, default 0.1
    webhook_url: str | None  # at most 2083 characters
    webhook_secret: str | None


class FluxProFillInputsFields(TypedDict, total=False):
    """The request of flux-pro-1.0-fill."""

    image: Required[Any]  # an image: path, bytes, file, PIL, numpy, base64
    mask: Any  # an image: path, bytes, file, PIL, numpy, base64
    prompt: str | None  # default ""
    steps: int | None  # >= 15, <= 50, default 50
    prompt_upsampling: bool | None  # default false
    seed: int | None
    guidance: float | None  # >= 1.5, <= 100, default 60
    output_format: Literal["jpeg", "png", "webp"] | None  # default "jpeg"
    safety_tolerance: int  # >= 0, <= 6, default 2
    webhook_url: str | None  # at most 2083 characters
    webhook_secret: str | None


class FluxProExpandInputsFields(TypedDict, total=False):
    """The request of flux-pro-1.0-expand."""

    image: Required[Any]  # an image: path, bytes, file, PIL, numpy, base64
    top: int | None  # >= 0, <= 2048, default 0
    bottom: int | None  # >= 0, <= 2048, default 0
    left: int | None  # >= 0, <= 2048, default 0
    right: int | None  # >= 0, <= 2048, default 0
    prompt: str | None  # default ""
    steps: int | None  # >= 15, <= 50, default 50
    prompt_upsampling: bool | None  # default false
    seed: int | None
    guidance: float | None  # >= 1.5, <= 100, default 60
    output_format: Literal["jpeg", "png", "webp"] | None  # default "jpeg"
    safety_tolerance: int  # >= 0, <= 6, default 2
    webhook_url: str | None  # at most 2083 characters
    webhook_secret: str | None


class FluxKontextProInputsFields(TypedDict, total=False):
    """The request of flux-kontext-pro, flux-kontext-max."""

    prompt: Required[str]
    input_image: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_2: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_3: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_4: Any  # an image: path, bytes, file, PIL, numpy, base64
    seed: int | None
    aspect_ratio: str | None
    output_format: Literal["jpeg", "png", "webp"] | None  # default "png"
    webhook_url: str | None  # at most 2083 characters
    webhook_secret: str | None
    prompt_upsampling: bool  # default false
    safety_tolerance: int  # >= 0, <= 6, default 2


class Flux2InputsFields(TypedDict, total=False):
    """The request of flux-2-max, flux-2-pro-preview, flux-2-pro."""

    prompt: Required[str]
    input_image: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_2: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_3: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_4: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_5: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_6: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_7: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_8: Any  # an image: path, bytes, file, PIL, numpy, base64
    seed: int | None
    width: int | None  # >= 64, default 0
    height: int | None  # >= 64, default 0
    safety_tolerance: int  # >= 0, <= 5, default 2
    output_format: Literal["jpeg", "png", "webp"] | None  # default "jpeg"
    webhook_url: str | None  # at most 2083 characters
    webhook_secret: str | None


class Flux2KleinInputsFields(TypedDict, total=False):
    """The request of flux-2-klein-9b, flux-2-klein-4b, flux-2-klein-9b-preview."""

    prompt: Required[str]
    input_image: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_2: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_3: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_4: Any  # an image: path, bytes, file, PIL, numpy, base64
    seed: int | None
    width: int | None  # >= 64, default 0
    height: int | None  # >= 64, default 0
    safety_tolerance: int  # >= 0, <= 5, default 2
    output_format: Literal["jpeg", "png", "webp"] | None  # default "jpeg"
    webhook_url: str | None  # at most 2083 characters
    webhook_secret: str | None


class Flux2FlexInputsFields(TypedDict, total=False):
    """The request of flux-2-flex."""

    prompt: Required[str]
    prompt_upsampling: bool | None  # default true
    input_image: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_2: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_3: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_4: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_5: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_6: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_7: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_8: Any  # an image: path, bytes, file, PIL, numpy, base64
    input_image_blob_path: str | None
    seed: int | None
    width: int | None  # >= 64, default 0
    height: int | None  # >= 64, default 0
    guidance: float | None  # >= 1.5, <= 10, default 5.0
    steps: int | None  # >= 1, <= 50, default 50
    safety_tolerance: int  # >= 0, <= 5, default 2
    output_format: Literal["jpeg", "png", "webp"] | None  # default "jpeg"
    webhook_url: str | None  # at most 2083 characters
    webhook_secret: str | None


class FinetuneFluxProFillInputsFields(TypedDict, total=False):
    """The request of flux-pro-1.0-fill-finetuned."""

    finetune_id: Required[str]
    finetune_strength: float  # >= 0, <= 2, default 1.1
    image: Required[Any]  # an image: path, bytes, file, PIL, numpy, base64
    mask: Any  # an image: path, bytes, file, PIL, numpy, base64
    prompt: str  # default ""
    steps: int  # >= 15, <= 50, default 50
    prompt_upsampling: bool  # default false
    seed: int | None
    guidance: float  # >= 1.5, <= 100, default 60
    output_format: Literal["jpeg", "png", "webp"] | None  # default "jpeg"
    safety_tolerance: int  # >= 0, <= 6, default 2
    webhook_url: str | None  # at most 2083 characters
    webhook_secret: str | None


class FinetuneFluxUltraInputFields(TypedDict, total=False):
    """The request of flux-pro-1.1-ultra-finetuned."""

    finetune_id: Required[str]
    finetune_strength: float  # >= 0, <= 2, default 1.2
    prompt: str | None  # default ""
    seed: int | None
    aspect_ratio: str  # default "16:9"
    safety_tolerance: int  # >= 0, <= 6, default 2
    output_format: Literal["jpeg", "png", "webp"] | None  # default "jpeg"
    image_prompt: Any  # an image: path, bytes, file, PIL, numpy, base64
    image_prompt_strength: float  # >= 0, <= 1, default 0.1
    prompt_upsampling: bool  # default false
    webhook_url: str | None  # at most 2083 characters
    webhook_secret: str | None


class FinetuneCannyInputsFields(TypedDict, total=False):
    """The request of flux-pro-1.0-canny-finetuned."""

    finetune_id: Required[str]
    finetune_strength: float  # >= 0, <= 2, default 1.1
    prompt: Required[str]
    canny_low_threshold: int | None  # >= 0, <= 500, default 50
    canny_high_threshold: int | None  # >= 0, <= 500, default 200
    control_image: Required[Any]  # an image: path, bytes, file, PIL, numpy, base64
    prompt_upsampling: bool  # default false
    seed: int | None
    steps: int  # >= 15, <= 50, default 50
    output_format: Literal["jpeg", "png"] | None  # default "jpeg"
    guidance: float  # >= 1, <= 100, default 30
    safety_tolerance: int  # >= 0, <= 6, default 2
    webhook_url: str | None  # at most 2083 characters
    webhook_secret: str | None


class PrepareCalls:
    """prepare(), typed per endpoint."""

    @overload
    def prepare(
        self,
        *,
        endpoint: Literal["flux-pro-1.1"],
        validate: bool | None = None,
        **fields: Unpack[FluxPro11InputsFields],
    ) -> SubmitBody: ...
    @overload
    def prepare(
        self,
        *,
        endpoint: Literal["flux-dev"],
        validate: bool | None = None,
        **fields: Unpack[FluxDevInputsFields],
    ) -> SubmitBody: ...
    @overload
    def prepare(
        self,
        *,
        endpoint: Literal["flux-pro-1.1-ultra"],
        validate: bool | None = None,
        **fields: Unpack[FluxUltraInputFields],
    ) -> SubmitBody: ...
    @overload
    def prepare(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-fill"],
        validate: bool | None = None,
        **fields: Unpack[FluxProFillInputsFields],
    ) -> SubmitBody: ...
    @overload
    def prepare(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-expand"],
        validate: bool | None = None,
        **fields: Unpack[FluxProExpandInputsFields],
    ) -> SubmitBody: ...
    @overload
    def prepare(
        self,
        *,
        endpoint: Literal["flux-kontext-pro", "flux-kontext-max"],
        validate: bool | None = None,
        **fields: Unpack[FluxKontextProInputsFields],
    ) -> SubmitBody: ...
    @overload
    def prepare(
        self,
        *,
        endpoint: Literal["flux-2-max", "flux-2-pro-preview", "flux-2-pro"],
        validate: bool | None = None,
        **fields: Unpack[Flux2InputsFields],
    ) -> SubmitBody: ...
    @overload
    def prepare(
        self,
        *,
        endpoint: Literal["flux-2-klein-9b", "flux-2-klein-4b", "flux-2-klein-9b-preview"],
        validate: bool | None = None,
        **fields: Unpack[Flux2KleinInputsFields],
    ) -> SubmitBody: ...
    @overload
    def prepare(
        self,
        *,
        endpoint: Literal["flux-2-flex"],
        validate: bool | None = None,
        **fields: Unpack[Flux2FlexInputsFields],
    ) -> SubmitBody: ...
    @overload
    def prepare(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-fill-finetuned"],
        validate: bool | None = None,
        **fields: Unpack[FinetuneFluxProFillInputsFields],
    ) -> SubmitBody: ...
    @overload
    def prepare(
        self,
        *,
        endpoint: Literal["flux-pro-1.1-ultra-finetuned"],
        validate: bool | None = None,
        **fields: Unpack[FinetuneFluxUltraInputFields],
    ) -> SubmitBody: ...
    @overload
    def prepare(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-canny-finetuned"] = ...,
        validate: bool | None = None,
        **fields: Unpack[FinetuneCannyInputsFields],
    ) -> SubmitBody: ...
    def prepare(
        self,
        *,
        endpoint: str = "flux-pro-1.0-canny-finetuned",
        validate: bool | None = None,
        **fields: Any,
    ) -> SubmitBody:
        raise NotImplementedError  # the face's own method runs


class SyncCalls:
    """FluxCanny's calls, typed per endpoint."""

    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.1"],
        validate: bool | None = None,
        **fields: Unpack[FluxPro11InputsFields],
    ) -> Task: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-dev"],
        validate: bool | None = None,
        **fields: Unpack[FluxDevInputsFields],
    ) -> Task: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.1-ultra"],
        validate: bool | None = None,
        **fields: Unpack[FluxUltraInputFields],
    ) -> Task: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-fill"],
        validate: bool | None = None,
        **fields: Unpack[FluxProFillInputsFields],
    ) -> Task: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-expand"],
        validate: bool | None = None,
        **fields: Unpack[FluxProExpandInputsFields],
    ) -> Task: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-kontext-pro", "flux-kontext-max"],
        validate: bool | None = None,
        **fields: Unpack[FluxKontextProInputsFields],
    ) -> Task: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-2-max", "flux-2-pro-preview", "flux-2-pro"],
        validate: bool | None = None,
        **fields: Unpack[Flux2InputsFields],
    ) -> Task: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-2-klein-9b", "flux-2-klein-4b", "flux-2-klein-9b-preview"],
        validate: bool | None = None,
        **fields: Unpack[Flux2KleinInputsFields],
    ) -> Task: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-2-flex"],
        validate: bool | None = None,
        **fields: Unpack[Flux2FlexInputsFields],
    ) -> Task: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-fill-finetuned"],
        validate: bool | None = None,
        **fields: Unpack[FinetuneFluxProFillInputsFields],
    ) -> Task: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.1-ultra-finetuned"],
        validate: bool | None = None,
        **fields: Unpack[FinetuneFluxUltraInputFields],
    ) -> Task: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-canny-finetuned"] = ...,
        validate: bool | None = None,
        **fields: Unpack[FinetuneCannyInputsFields],
    ) -> Task: ...
    def submit(
        self,
        *,
        endpoint: str = "flux-pro-1.0-canny-finetuned",
        validate: bool | None = None,
        **fields: Any,
    ) -> Task:
        raise NotImplementedError  # the face's own method runs

    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.1"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FluxPro11InputsFields],
    ) -> GeneratedImage: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-dev"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FluxDevInputsFields],
    ) -> GeneratedImage: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.1-ultra"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FluxUltraInputFields],
    ) -> GeneratedImage: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-fill"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FluxProFillInputsFields],
    ) -> GeneratedImage: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-expand"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FluxProExpandInputsFields],
    ) -> GeneratedImage: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-kontext-pro", "flux-kontext-max"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FluxKontextProInputsFields],
    ) -> GeneratedImage: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-2-max", "flux-2-pro-preview", "flux-2-pro"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[Flux2InputsFields],
    ) -> GeneratedImage: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-2-klein-9b", "flux-2-klein-4b", "flux-2-klein-9b-preview"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[Flux2KleinInputsFields],
    ) -> GeneratedImage: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-2-flex"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[Flux2FlexInputsFields],
    ) -> GeneratedImage: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-fill-finetuned"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FinetuneFluxProFillInputsFields],
    ) -> GeneratedImage: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.1-ultra-finetuned"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FinetuneFluxUltraInputFields],
    ) -> GeneratedImage: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-canny-finetuned"] = ...,
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FinetuneCannyInputsFields],
    ) -> GeneratedImage: ...
    def generate(
        self,
        *,
        endpoint: str = "flux-pro-1.0-canny-finetuned",
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Any,
    ) -> GeneratedImage:
        raise NotImplementedError  # the face's own method runs


class AsyncCalls:
    """AsyncFluxCanny's, typed per endpoint."""

    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.1"],
        validate: bool | None = None,
        **fields: Unpack[FluxPro11InputsFields],
    ) -> Coroutine[Any, Any, Task]: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-dev"],
        validate: bool | None = None,
        **fields: Unpack[FluxDevInputsFields],
    ) -> Coroutine[Any, Any, Task]: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.1-ultra"],
        validate: bool | None = None,
        **fields: Unpack[FluxUltraInputFields],
    ) -> Coroutine[Any, Any, Task]: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-fill"],
        validate: bool | None = None,
        **fields: Unpack[FluxProFillInputsFields],
    ) -> Coroutine[Any, Any, Task]: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-expand"],
        validate: bool | None = None,
        **fields: Unpack[FluxProExpandInputsFields],
    ) -> Coroutine[Any, Any, Task]: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-kontext-pro", "flux-kontext-max"],
        validate: bool | None = None,
        **fields: Unpack[FluxKontextProInputsFields],
    ) -> Coroutine[Any, Any, Task]: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-2-max", "flux-2-pro-preview", "flux-2-pro"],
        validate: bool | None = None,
        **fields: Unpack[Flux2InputsFields],
    ) -> Coroutine[Any, Any, Task]: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-2-klein-9b", "flux-2-klein-4b", "flux-2-klein-9b-preview"],
        validate: bool | None = None,
        **fields: Unpack[Flux2KleinInputsFields],
    ) -> Coroutine[Any, Any, Task]: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-2-flex"],
        validate: bool | None = None,
        **fields: Unpack[Flux2FlexInputsFields],
    ) -> Coroutine[Any, Any, Task]: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-fill-finetuned"],
        validate: bool | None = None,
        **fields: Unpack[FinetuneFluxProFillInputsFields],
    ) -> Coroutine[Any, Any, Task]: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.1-ultra-finetuned"],
        validate: bool | None = None,
        **fields: Unpack[FinetuneFluxUltraInputFields],
    ) -> Coroutine[Any, Any, Task]: ...
    @overload
    def submit(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-canny-finetuned"] = ...,
        validate: bool | None = None,
        **fields: Unpack[FinetuneCannyInputsFields],
    ) -> Coroutine[Any, Any, Task]: ...
    def submit(
        self,
        *,
        endpoint: str = "flux-pro-1.0-canny-finetuned",
        validate: bool | None = None,
        **fields: Any,
    ) -> Coroutine[Any, Any, Task]:
        raise NotImplementedError  # the face's own method runs

    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.1"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FluxPro11InputsFields],
    ) -> Coroutine[Any, Any, GeneratedImage]: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-dev"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FluxDevInputsFields],
    ) -> Coroutine[Any, Any, GeneratedImage]: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.1-ultra"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FluxUltraInputFields],
    ) -> Coroutine[Any, Any, GeneratedImage]: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-fill"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FluxProFillInputsFields],
    ) -> Coroutine[Any, Any, GeneratedImage]: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-expand"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FluxProExpandInputsFields],
    ) -> Coroutine[Any, Any, GeneratedImage]: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-kontext-pro", "flux-kontext-max"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FluxKontextProInputsFields],
    ) -> Coroutine[Any, Any, GeneratedImage]: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-2-max", "flux-2-pro-preview", "flux-2-pro"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[Flux2InputsFields],
    ) -> Coroutine[Any, Any, GeneratedImage]: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-2-klein-9b", "flux-2-klein-4b", "flux-2-klein-9b-preview"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[Flux2KleinInputsFields],
    ) -> Coroutine[Any, Any, GeneratedImage]: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-2-flex"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[Flux2FlexInputsFields],
    ) -> Coroutine[Any, Any, GeneratedImage]: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-fill-finetuned"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FinetuneFluxProFillInputsFields],
    ) -> Coroutine[Any, Any, GeneratedImage]: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.1-ultra-finetuned"],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FinetuneFluxUltraInputFields],
    ) -> Coroutine[Any, Any, GeneratedImage]: ...
    @overload
    def generate(
        self,
        *,
        endpoint: Literal["flux-pro-1.0-canny-finetuned"] = ...,
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Unpack[FinetuneCannyInputsFields],
    ) -> Coroutine[Any, Any, GeneratedImage]: ...
    def generate(
        self,
        *,
        endpoint: str = "flux-pro-1.0-canny-finetuned",
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
        validate: bool | None = None,
        **fields: Any,
    ) -> Coroutine[Any, Any, GeneratedImage]:
        raise NotImplementedError  # the face's own method runs
