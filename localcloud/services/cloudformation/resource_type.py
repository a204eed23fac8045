"""The shape moto's CloudFormation expects of a resource type, written once for the types we add
(`resources`, `autoscaling`).

`ResourceType` is a mixin listed before `CloudFormationModel`: moto finds resource types among
that class's direct subclasses only, so a base class deriving from it would hide them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self


class ResourceType:
    """A resource type: its `TYPE`, the property that names it (`NAME_PROPERTY`, "" for none),
    `create` from the template's properties and `delete`; an update is a replacement. Each
    instance sets its `physical_resource_id` (what `Ref` gives)."""

    TYPE: ClassVar[str]
    NAME_PROPERTY: ClassVar[str] = ""
    physical_resource_id: str

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def create(
        cls, name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Self:
        raise NotImplementedError

    @classmethod
    def physical_id(cls, name: str, properties: dict[str, Any]) -> str | None:
        """The physical id `create` will give; None when it is known only once created."""
        return None

    def delete(self, account_id: str, region_name: str) -> None:
        raise NotImplementedError

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Self:
        return cls.create(resource_name, cloudformation_json["Properties"], account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Self:
        """The original is deleted first when the new physical id differs (or is not known
        before creating: the new one could take the original's place), then the new created."""
        properties = cloudformation_json["Properties"]
        if cls.physical_id(new_resource_name, properties) != original_resource.physical_resource_id:
            original_resource.delete(account_id, region_name)
        return cls.create(new_resource_name, properties, account_id, region_name)
