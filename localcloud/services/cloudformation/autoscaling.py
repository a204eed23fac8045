"""CloudFormation for Application Auto Scaling, which moto 5.2.5 lacks: without it a stack's
`AWS::ApplicationAutoScaling::ScalableTarget` and `ScalingPolicy` are skipped with a warning,
so an autoscaled endpoint would deploy with no scaling at all.

Both go through moto's own Application Auto Scaling backend, so `describe_scalable_targets` /
`describe_scaling_policies` show what the stack declared. `Ref` of a target is
`resourceId|scalableDimension|serviceNamespace`, as on AWS; a policy's `ScalingTargetId` is read
back from it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.core.common_models import CloudFormationModel


def _backend(account_id: str, region_name: str) -> Any:
    return applicationautoscaling_backends[account_id][region_name]


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class ScalableTargetResource(CloudFormationModel):
    """`AWS::ApplicationAutoScaling::ScalableTarget`: RegisterScalableTarget on create and
    update, DeregisterScalableTarget (with its policies, as AWS does) on delete."""

    def __init__(self, namespace: str, resource_id: str, dimension: str) -> None:
        self.namespace = namespace
        self.resource_id = resource_id
        self.dimension = dimension

    @property
    def physical_resource_id(self) -> str:
        return f"{self.resource_id}|{self.dimension}|{self.namespace}"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApplicationAutoScaling::ScalableTarget"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ScalableTargetResource:
        p = cloudformation_json["Properties"]
        suspended = p.get("SuspendedState")
        _backend(account_id, region_name).register_scalable_target(
            namespace=p["ServiceNamespace"],
            r_id=p["ResourceId"],
            dimension=p["ScalableDimension"],
            min_capacity=_int(p.get("MinCapacity")),
            max_capacity=_int(p.get("MaxCapacity")),
            role_arn=p.get("RoleARN", ""),
            suspended_state=suspended,
        )
        return cls(p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"])

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: ScalableTargetResource,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> ScalableTargetResource:
        p = cloudformation_json["Properties"]
        if (p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"]) != (
            original_resource.namespace,
            original_resource.resource_id,
            original_resource.dimension,
        ):
            original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        p = cloudformation_json["Properties"]
        cls(p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"]).delete(
            account_id, region_name
        )

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        for key, policy in list(backend.policies.items()):
            if (policy.resource_id, policy.scalable_dimension) == (
                self.resource_id,
                self.dimension,
            ):
                del backend.policies[key]
        # Already gone (deleted by hand, or a repeated delete) is not an error for CloudFormation.
        with contextlib.suppress(Exception):
            backend.deregister_scalable_target(self.namespace, self.resource_id, self.dimension)


class ScalingPolicyResource(CloudFormationModel):
    """`AWS::ApplicationAutoScaling::ScalingPolicy`: PutScalingPolicy / DeleteScalingPolicy."""

    def __init__(self, arn: str, name: str, namespace: str, resource_id: str, dimension: str):
        self.arn = arn
        self.name = name
        self.namespace = namespace
        self.resource_id = resource_id
        self.dimension = dimension

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApplicationAutoScaling::ScalingPolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "PolicyName"

    @staticmethod
    def _target(p: dict[str, Any]) -> tuple[str, str, str]:
        """(namespace, resource id, dimension) from ScalingTargetId or the three properties."""
        if "ScalingTargetId" in p:
            resource_id, dimension, namespace = str(p["ScalingTargetId"]).split("|")
            return namespace, resource_id, dimension
        return p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"]

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ScalingPolicyResource:
        p = cloudformation_json["Properties"]
        namespace, resource_id, dimension = cls._target(p)
        name = p.get("PolicyName") or resource_name
        body = p.get("TargetTrackingScalingPolicyConfiguration") or p.get(
            "StepScalingPolicyConfiguration"
        )
        policy = _backend(account_id, region_name).put_scaling_policy(
            policy_name=name,
            service_namespace=namespace,
            resource_id=resource_id,
            scalable_dimension=dimension,
            policy_body=body,
            policy_type=p.get("PolicyType"),
        )
        return cls(policy.policy_arn, name, namespace, resource_id, dimension)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: ScalingPolicyResource,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> ScalingPolicyResource:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        p = cloudformation_json["Properties"]
        namespace, resource_id, dimension = cls._target(p)
        name = p.get("PolicyName") or resource_name
        cls("", name, namespace, resource_id, dimension).delete(account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        with contextlib.suppress(Exception):  # gone with its target already
            _backend(account_id, region_name).delete_scaling_policy(
                self.name, self.namespace, self.resource_id, self.dimension
            )


def install() -> None:
    """Make moto's CloudFormation see the two resource types (its model lists are cached)."""
    from moto.cloudformation import parsing

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
