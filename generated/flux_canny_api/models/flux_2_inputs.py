from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.output_format import OutputFormat
from ..types import UNSET, Unset

T = TypeVar("T", bound="Flux2Inputs")


@_attrs_define
class Flux2Inputs:
    """
    Attributes:
        prompt (str): Text prompt for image generation. Example: ein fantastisches bild.
        input_image (None | str | Unset): Path to the input image.
        input_image_2 (None | str | Unset): Path to the second input image.
        input_image_3 (None | str | Unset): Path to the third input image.
        input_image_4 (None | str | Unset): Path to the fourth input image.
        input_image_5 (None | str | Unset): Path to the fifth input image.
        input_image_6 (None | str | Unset): Path to the sixth input image.
        input_image_7 (None | str | Unset): Path to the seventh input image.
        input_image_8 (None | str | Unset): Path to the eighth input image.
        seed (int | None | Unset): Optional seed for reproducibility. Example: 42.
        width (int | None | Unset): Width of the image Default: 0.
        height (int | None | Unset): Height of the image Default: 0.
        safety_tolerance (int | Unset): Tolerance level for input and output moderation. Between 0 and 5, 0 being most
            strict, 5 being least strict. If you wish to increase the safety_tolerance beyond these levels please reach out
            to the team. Default: 2.
        output_format (None | OutputFormat | Unset):  Default: OutputFormat.JPEG.
        webhook_url (None | str | Unset): URL to receive webhook notifications
        webhook_secret (None | str | Unset): Optional secret for webhook signature verification
    """

    prompt: str
    input_image: None | str | Unset = UNSET
    input_image_2: None | str | Unset = UNSET
    input_image_3: None | str | Unset = UNSET
    input_image_4: None | str | Unset = UNSET
    input_image_5: None | str | Unset = UNSET
    input_image_6: None | str | Unset = UNSET
    input_image_7: None | str | Unset = UNSET
    input_image_8: None | str | Unset = UNSET
    seed: int | None | Unset = UNSET
    width: int | None | Unset = 0
    height: int | None | Unset = 0
    safety_tolerance: int | Unset = 2
    output_format: None | OutputFormat | Unset = OutputFormat.JPEG
    webhook_url: None | str | Unset = UNSET
    webhook_secret: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        prompt = self.prompt

        input_image: None | str | Unset
        if isinstance(self.input_image, Unset):
            input_image = UNSET
        else:
            input_image = self.input_image

        input_image_2: None | str | Unset
        if isinstance(self.input_image_2, Unset):
            input_image_2 = UNSET
        else:
            input_image_2 = self.input_image_2

        input_image_3: None | str | Unset
        if isinstance(self.input_image_3, Unset):
            input_image_3 = UNSET
        else:
            input_image_3 = self.input_image_3

        input_image_4: None | str | Unset
        if isinstance(self.input_image_4, Unset):
            input_image_4 = UNSET
        else:
            input_image_4 = self.input_image_4

        input_image_5: None | str | Unset
        if isinstance(self.input_image_5, Unset):
            input_image_5 = UNSET
        else:
            input_image_5 = self.input_image_5

        input_image_6: None | str | Unset
        if isinstance(self.input_image_6, Unset):
            input_image_6 = UNSET
        else:
            input_image_6 = self.input_image_6

        input_image_7: None | str | Unset
        if isinstance(self.input_image_7, Unset):
            input_image_7 = UNSET
        else:
            input_image_7 = self.input_image_7

        input_image_8: None | str | Unset
        if isinstance(self.input_image_8, Unset):
            input_image_8 = UNSET
        else:
            input_image_8 = self.input_image_8

        seed: int | None | Unset
        if isinstance(self.seed, Unset):
            seed = UNSET
        else:
            seed = self.seed

        width: int | None | Unset
        if isinstance(self.width, Unset):
            width = UNSET
        else:
            width = self.width

        height: int | None | Unset
        if isinstance(self.height, Unset):
            height = UNSET
        else:
            height = self.height

        safety_tolerance = self.safety_tolerance

        output_format: None | str | Unset
        if isinstance(self.output_format, Unset):
            output_format = UNSET
        elif isinstance(self.output_format, OutputFormat):
            output_format = self.output_format.value
        else:
            output_format = self.output_format

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
                "prompt": prompt,
            }
        )
        if input_image is not UNSET:
            field_dict["input_image"] = input_image
        if input_image_2 is not UNSET:
            field_dict["input_image_2"] = input_image_2
        if input_image_3 is not UNSET:
            field_dict["input_image_3"] = input_image_3
        if input_image_4 is not UNSET:
            field_dict["input_image_4"] = input_image_4
        if input_image_5 is not UNSET:
            field_dict["input_image_5"] = input_image_5
        if input_image_6 is not UNSET:
            field_dict["input_image_6"] = input_image_6
        if input_image_7 is not UNSET:
            field_dict["input_image_7"] = input_image_7
        if input_image_8 is not UNSET:
            field_dict["input_image_8"] = input_image_8
        if seed is not UNSET:
            field_dict["seed"] = seed
        if width is not UNSET:
            field_dict["width"] = width
        if height is not UNSET:
            field_dict["height"] = height
        if safety_tolerance is not UNSET:
            field_dict["safety_tolerance"] = safety_tolerance
        if output_format is not UNSET:
            field_dict["output_format"] = output_format
        if webhook_url is not UNSET:
            field_dict["webhook_url"] = webhook_url
        if webhook_secret is not UNSET:
            field_dict["webhook_secret"] = webhook_secret

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        prompt = d.pop("prompt")

        def _parse_input_image(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image = _parse_input_image(d.pop("input_image", UNSET))

        def _parse_input_image_2(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_2 = _parse_input_image_2(d.pop("input_image_2", UNSET))

        def _parse_input_image_3(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_3 = _parse_input_image_3(d.pop("input_image_3", UNSET))

        def _parse_input_image_4(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_4 = _parse_input_image_4(d.pop("input_image_4", UNSET))

        def _parse_input_image_5(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_5 = _parse_input_image_5(d.pop("input_image_5", UNSET))

        def _parse_input_image_6(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_6 = _parse_input_image_6(d.pop("input_image_6", UNSET))

        def _parse_input_image_7(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_7 = _parse_input_image_7(d.pop("input_image_7", UNSET))

        def _parse_input_image_8(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_8 = _parse_input_image_8(d.pop("input_image_8", UNSET))

        def _parse_seed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        seed = _parse_seed(d.pop("seed", UNSET))

        def _parse_width(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        width = _parse_width(d.pop("width", UNSET))

        def _parse_height(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        height = _parse_height(d.pop("height", UNSET))

        safety_tolerance = d.pop("safety_tolerance", UNSET)

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

        flux_2_inputs = cls(
            prompt=prompt,
            input_image=input_image,
            input_image_2=input_image_2,
            input_image_3=input_image_3,
            input_image_4=input_image_4,
            input_image_5=input_image_5,
            input_image_6=input_image_6,
            input_image_7=input_image_7,
            input_image_8=input_image_8,
            seed=seed,
            width=width,
            height=height,
            safety_tolerance=safety_tolerance,
            output_format=output_format,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
        )

        flux_2_inputs.additional_properties = d
        return flux_2_inputs

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
