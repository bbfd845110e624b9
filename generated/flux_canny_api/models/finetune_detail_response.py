from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.finetune_detail_response_finetune_details import (
        FinetuneDetailResponseFinetuneDetails,
    )


T = TypeVar("T", bound="FinetuneDetailResponse")


@_attrs_define
class FinetuneDetailResponse:
    """
    Attributes:
        finetune_details (FinetuneDetailResponseFinetuneDetails): Details about the parameters used for finetuning
    """

    finetune_details: FinetuneDetailResponseFinetuneDetails
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        finetune_details = self.finetune_details.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "finetune_details": finetune_details,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.finetune_detail_response_finetune_details import (
            FinetuneDetailResponseFinetuneDetails,
        )

        d = dict(src_dict)
        finetune_details = FinetuneDetailResponseFinetuneDetails.from_dict(
            d.pop("finetune_details")
        )

        finetune_detail_response = cls(
            finetune_details=finetune_details,
        )

        finetune_detail_response.additional_properties = d
        return finetune_detail_response

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
