from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="DeleteFinetuneResponse")


@_attrs_define
class DeleteFinetuneResponse:
    """
    Attributes:
        status (str): Status of the deletion
        message (str): Message about the deletion
        deleted_finetune_id (str): ID of the deleted finetune
        timestamp (str): Timestamp of the deletion
    """

    status: str
    message: str
    deleted_finetune_id: str
    timestamp: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        status = self.status

        message = self.message

        deleted_finetune_id = self.deleted_finetune_id

        timestamp = self.timestamp

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "status": status,
                "message": message,
                "deleted_finetune_id": deleted_finetune_id,
                "timestamp": timestamp,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        status = d.pop("status")

        message = d.pop("message")

        deleted_finetune_id = d.pop("deleted_finetune_id")

        timestamp = d.pop("timestamp")

        delete_finetune_response = cls(
            status=status,
            message=message,
            deleted_finetune_id=deleted_finetune_id,
            timestamp=timestamp,
        )

        delete_finetune_response.additional_properties = d
        return delete_finetune_response

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
