from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.finetune_canny_output_format import FinetuneCannyOutputFormat
from ..types import UNSET, Unset

T = TypeVar("T", bound="FinetuneCannyInputs")


@_attrs_define
class FinetuneCannyInputs:
    """
    Attributes:
        finetune_id (str): ID of the fine-tuned model you want to use. Example: my-finetune.
        prompt (str): Text prompt for image generation Example: ein fantastisches bild.
        control_image (str): Base64 encoded image to use as control input
        finetune_strength (float | Unset): Strength of the fine-tuned model. 0.0 means no influence, 1.0 means full
            influence. Allowed values up to 2.0 Default: 1.1.
        canny_low_threshold (int | None | Unset): Low threshold for Canny edge detection Default: 50.
        canny_high_threshold (int | None | Unset): High threshold for Canny edge detection Default: 200.
        prompt_upsampling (bool | Unset): Whether to perform upsampling on the prompt Default: False.
        seed (int | None | Unset): Optional seed for reproducibility Example: 42.
        steps (int | Unset): Number of steps for the image generation process Default: 50.
        output_format (FinetuneCannyOutputFormat | None | Unset): Output format for the generated image. Can be 'jpeg'
            or 'png'. Default: FinetuneCannyOutputFormat.JPEG.
        guidance (float | Unset): Guidance strength for the image generation process Default: 30.0.
        safety_tolerance (int | Unset): Tolerance level for input and output moderation. Between 0 and 6, 0 being most
            strict, 6 being least strict. Default: 2.
        webhook_url (None | str | Unset): URL to receive webhook notifications
        webhook_secret (None | str | Unset): Optional secret for webhook signature verification
    """

    finetune_id: str
    prompt: str
    control_image: str
    finetune_strength: float | Unset = 1.1
    canny_low_threshold: int | None | Unset = 50
    canny_high_threshold: int | None | Unset = 200
    prompt_upsampling: bool | Unset = False
    seed: int | None | Unset = UNSET
    steps: int | Unset = 50
    output_format: FinetuneCannyOutputFormat | None | Unset = (
        FinetuneCannyOutputFormat.JPEG
    )
    guidance: float | Unset = 30.0
    safety_tolerance: int | Unset = 2
    webhook_url: None | str | Unset = UNSET
    webhook_secret: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        finetune_id = self.finetune_id

        prompt = self.prompt

        control_image = self.control_image

        finetune_strength = self.finetune_strength

        canny_low_threshold: int | None | Unset
        if isinstance(self.canny_low_threshold, Unset):
            canny_low_threshold = UNSET
        else:
            canny_low_threshold = self.canny_low_threshold

        canny_high_threshold: int | None | Unset
        if isinstance(self.canny_high_threshold, Unset):
            canny_high_threshold = UNSET
        else:
            canny_high_threshold = self.canny_high_threshold

        prompt_upsampling = self.prompt_upsampling

        seed: int | None | Unset
        if isinstance(self.seed, Unset):
            seed = UNSET
        else:
            seed = self.seed

        steps = self.steps

        output_format: None | str | Unset
        if isinstance(self.output_format, Unset):
            output_format = UNSET
        elif isinstance(self.output_format, FinetuneCannyOutputFormat):
            output_format = self.output_format.value
        else:
            output_format = self.output_format

        guidance = self.guidance

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
                "finetune_id": finetune_id,
                "prompt": prompt,
                "control_image": control_image,
            }
        )
        if finetune_strength is not UNSET:
            field_dict["finetune_strength"] = finetune_strength
        if canny_low_threshold is not UNSET:
            field_dict["canny_low_threshold"] = canny_low_threshold
        if canny_high_threshold is not UNSET:
            field_dict["canny_high_threshold"] = canny_high_threshold
        if prompt_upsampling is not UNSET:
            field_dict["prompt_upsampling"] = prompt_upsampling
        if seed is not UNSET:
            field_dict["seed"] = seed
        if steps is not UNSET:
            field_dict["steps"] = steps
        if output_format is not UNSET:
            field_dict["output_format"] = output_format
        if guidance is not UNSET:
            field_dict["guidance"] = guidance
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
        finetune_id = d.pop("finetune_id")

        prompt = d.pop("prompt")

        control_image = d.pop("control_image")

        finetune_strength = d.pop("finetune_strength", UNSET)

        def _parse_canny_low_threshold(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        canny_low_threshold = _parse_canny_low_threshold(
            d.pop("canny_low_threshold", UNSET)
        )

        def _parse_canny_high_threshold(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        canny_high_threshold = _parse_canny_high_threshold(
            d.pop("canny_high_threshold", UNSET)
        )

        prompt_upsampling = d.pop("prompt_upsampling", UNSET)

        def _parse_seed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        seed = _parse_seed(d.pop("seed", UNSET))

        steps = d.pop("steps", UNSET)

        def _parse_output_format(
            data: object,
        ) -> FinetuneCannyOutputFormat | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                output_format_type_0 = FinetuneCannyOutputFormat(data)

                return output_format_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(FinetuneCannyOutputFormat | None | Unset, data)

        output_format = _parse_output_format(d.pop("output_format", UNSET))

        guidance = d.pop("guidance", UNSET)

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

        finetune_canny_inputs = cls(
            finetune_id=finetune_id,
            prompt=prompt,
            control_image=control_image,
            finetune_strength=finetune_strength,
            canny_low_threshold=canny_low_threshold,
            canny_high_threshold=canny_high_threshold,
            prompt_upsampling=prompt_upsampling,
            seed=seed,
            steps=steps,
            output_format=output_format,
            guidance=guidance,
            safety_tolerance=safety_tolerance,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
        )

        finetune_canny_inputs.additional_properties = d
        return finetune_canny_inputs

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
