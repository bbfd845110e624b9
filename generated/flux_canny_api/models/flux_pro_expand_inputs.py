from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.output_format import OutputFormat
from ..types import UNSET, Unset

T = TypeVar("T", bound="FluxProExpandInputs")


@_attrs_define
class FluxProExpandInputs:
    """
    Attributes:
        image (str): A Base64-encoded string representing the image you wish to expand.
        top (int | None | Unset): Number of pixels to expand at the top of the image Default: 0.
        bottom (int | None | Unset): Number of pixels to expand at the bottom of the image Default: 0.
        left (int | None | Unset): Number of pixels to expand on the left side of the image Default: 0.
        right (int | None | Unset): Number of pixels to expand on the right side of the image Default: 0.
        prompt (None | str | Unset): The description of the changes you want to make. This text guides the expansion
            process, allowing you to specify features, styles, or modifications for the expanded areas. Default: ''.
            Example: ein fantastisches bild.
        steps (int | None | Unset): Number of steps for the image generation process Default: 50. Example: 50.
        prompt_upsampling (bool | None | Unset): Whether to perform upsampling on the prompt. If active, automatically
            modifies the prompt for more creative generation Default: False.
        seed (int | None | Unset): Optional seed for reproducibility
        guidance (float | None | Unset): Guidance strength for the image generation process Default: 60.0.
        output_format (None | OutputFormat | Unset): Output format for the generated image. Can be 'jpeg', 'png', or
            'webp'. Default: OutputFormat.JPEG.
        safety_tolerance (int | Unset): Tolerance level for input and output moderation. Between 0 and 6, 0 being most
            strict, 6 being least strict. Default: 2. Example: 2.
        webhook_url (None | str | Unset): URL to receive webhook notifications
        webhook_secret (None | str | Unset): Optional secret for webhook signature verification
    """

    image: str
    top: int | None | Unset = 0
    bottom: int | None | Unset = 0
    left: int | None | Unset = 0
    right: int | None | Unset = 0
    prompt: None | str | Unset = ""
    steps: int | None | Unset = 50
    prompt_upsampling: bool | None | Unset = False
    seed: int | None | Unset = UNSET
    guidance: float | None | Unset = 60.0
    output_format: None | OutputFormat | Unset = OutputFormat.JPEG
    safety_tolerance: int | Unset = 2
    webhook_url: None | str | Unset = UNSET
    webhook_secret: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        image = self.image

        top: int | None | Unset
        if isinstance(self.top, Unset):
            top = UNSET
        else:
            top = self.top

        bottom: int | None | Unset
        if isinstance(self.bottom, Unset):
            bottom = UNSET
        else:
            bottom = self.bottom

        left: int | None | Unset
        if isinstance(self.left, Unset):
            left = UNSET
        else:
            left = self.left

        right: int | None | Unset
        if isinstance(self.right, Unset):
            right = UNSET
        else:
            right = self.right

        prompt: None | str | Unset
        if isinstance(self.prompt, Unset):
            prompt = UNSET
        else:
            prompt = self.prompt

        steps: int | None | Unset
        if isinstance(self.steps, Unset):
            steps = UNSET
        else:
            steps = self.steps

        prompt_upsampling: bool | None | Unset
        if isinstance(self.prompt_upsampling, Unset):
            prompt_upsampling = UNSET
        else:
            prompt_upsampling = self.prompt_upsampling

        seed: int | None | Unset
        if isinstance(self.seed, Unset):
            seed = UNSET
        else:
            seed = self.seed

        guidance: float | None | Unset
        if isinstance(self.guidance, Unset):
            guidance = UNSET
        else:
            guidance = self.guidance

        output_format: None | str | Unset
        if isinstance(self.output_format, Unset):
            output_format = UNSET
        elif isinstance(self.output_format, OutputFormat):
            output_format = self.output_format.value
        else:
            output_format = self.output_format

        safety_tolerance = self.safety_tolerance

        webhook_url: None | str | Unset
        if isinstance(self.webhook_url, Unset):
            webhook_url = UNSET
        else:
            webhook_url = self.webhook_url

        webhook_secret: None | str | Unset
        if isinstance(self.webhook_secret, Unset):
            webhook_secret = UNSET
        else:
            webhook_secret = self.webhook_secret

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "image": image,
            }
        )
        if top is not UNSET:
            field_dict["top"] = top
        if bottom is not UNSET:
            field_dict["bottom"] = bottom
        if left is not UNSET:
            field_dict["left"] = left
        if right is not UNSET:
            field_dict["right"] = right
        if prompt is not UNSET:
            field_dict["prompt"] = prompt
        if steps is not UNSET:
            field_dict["steps"] = steps
        if prompt_upsampling is not UNSET:
            field_dict["prompt_upsampling"] = prompt_upsampling
        if seed is not UNSET:
            field_dict["seed"] = seed
        if guidance is not UNSET:
            field_dict["guidance"] = guidance
        if output_format is not UNSET:
            field_dict["output_format"] = output_format
        if safety_tolerance is not UNSET:
            field_dict["safety_tolerance"] = safety_tolerance
        if webhook_url is not UNSET:
            field_dict["webhook_url"] = webhook_url
        if webhook_secret is not UNSET:
            field_dict["webhook_secret"] = webhook_secret

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        image = d.pop("image")

        def _parse_top(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        top = _parse_top(d.pop("top", UNSET))

        def _parse_bottom(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        bottom = _parse_bottom(d.pop("bottom", UNSET))

        def _parse_left(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        left = _parse_left(d.pop("left", UNSET))

        def _parse_right(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        right = _parse_right(d.pop("right", UNSET))

        def _parse_prompt(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        prompt = _parse_prompt(d.pop("prompt", UNSET))

        def _parse_steps(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        steps = _parse_steps(d.pop("steps", UNSET))

        def _parse_prompt_upsampling(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        prompt_upsampling = _parse_prompt_upsampling(d.pop("prompt_upsampling", UNSET))

        def _parse_seed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        seed = _parse_seed(d.pop("seed", UNSET))

        def _parse_guidance(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        guidance = _parse_guidance(d.pop("guidance", UNSET))

        def _parse_output_format(data: object) -> None | OutputFormat | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                output_format_type_0 = OutputFormat(data)

                return output_format_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OutputFormat | Unset, data)

        output_format = _parse_output_format(d.pop("output_format", UNSET))

        safety_tolerance = d.pop("safety_tolerance", UNSET)

        def _parse_webhook_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_url = _parse_webhook_url(d.pop("webhook_url", UNSET))

        def _parse_webhook_secret(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_secret = _parse_webhook_secret(d.pop("webhook_secret", UNSET))

        flux_pro_expand_inputs = cls(
            image=image,
            top=top,
            bottom=bottom,
            left=left,
            right=right,
            prompt=prompt,
            steps=steps,
            prompt_upsampling=prompt_upsampling,
            seed=seed,
            guidance=guidance,
            output_format=output_format,
            safety_tolerance=safety_tolerance,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
        )

        flux_pro_expand_inputs.additional_properties = d
        return flux_pro_expand_inputs

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
