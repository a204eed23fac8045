"""CloudFormation for Application Auto Scaling, which moto 5.2.5 lacks: without it a stack's
`AWS::ApplicationAutoScaling::ScalableTarget` and `ScalingPolicy` are skipped with a warning,
so an autoscaled endpoint would deploy with no scaling at all.

What the service does (variants checked, alarms, scaling) is `localcloud.services.autoscaling`,
which patches the same backend methods these resources call.

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

from localcloud.services.cloudformation.resource_type import ResourceType


def _backend(account_id: str, region_name: str) -> Any:
    return applicationautoscaling_backends[account_id][region_name]


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class ScalableTargetResource(ResourceType, CloudFormationModel):
    """`AWS::ApplicationAutoScaling::ScalableTarget`: RegisterScalableTarget on create and
    update, DeregisterScalableTarget on delete."""

    TYPE = "AWS::ApplicationAutoScaling::ScalableTarget"

    def __init__(self, namespace: str, resource_id: str, dimension: str) -> None:
        self.namespace = namespace
        self.resource_id = resource_id
        self.dimension = dimension
        self.physical_resource_id = f"{resource_id}|{dimension}|{namespace}"

    @classmethod
    def _from(cls, p: dict[str, Any]) -> ScalableTargetResource:
        return cls(p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"])

    @classmethod
    def physical_id(cls, name: str, properties: dict[str, Any]) -> str:
        return cls._from(properties).physical_resource_id

    @classmethod
    def create(
        cls, name: str, p: dict[str, Any], account_id: str, region_name: str
    ) -> ScalableTargetResource:
        target = cls._from(p)
        _backend(account_id, region_name).register_scalable_target(
            namespace=target.namespace,
            r_id=target.resource_id,
            dimension=target.dimension,
            min_capacity=_int(p.get("MinCapacity")),
            max_capacity=_int(p.get("MaxCapacity")),
            role_arn=p.get("RoleARN", ""),
            suspended_state=p.get("SuspendedState"),
        )
        return target

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        cls._from(cloudformation_json["Properties"]).delete(account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        # The service deletes the target's policies and their alarms with it
        # (`services.autoscaling`). Already gone (deleted by hand, or a repeated delete) is not
        # an error for CloudFormation.
        with contextlib.suppress(Exception):
            _backend(account_id, region_name).deregister_scalable_target(
                self.namespace, self.resource_id, self.dimension
            )


class ScalingPolicyResource(ResourceType, CloudFormationModel):
    """`AWS::ApplicationAutoScaling::ScalingPolicy`: PutScalingPolicy / DeleteScalingPolicy.
    Its physical id, the ARN, is known only once created, so an update deletes the original
    first (`ResourceType.physical_id`): a policy of the same name would be the new one."""

    TYPE = "AWS::ApplicationAutoScaling::ScalingPolicy"
    NAME_PROPERTY = "PolicyName"

    def __init__(self, arn: str, name: str, namespace: str, resource_id: str, dimension: str):
        self.arn = arn
        self.name = name
        self.namespace = namespace
        self.resource_id = resource_id
        self.dimension = dimension
        self.physical_resource_id = arn

    @classmethod
    def _from(cls, name: str, p: dict[str, Any], arn: str = "") -> ScalingPolicyResource:
        """The policy the properties declare: its target from ScalingTargetId or the three
        properties."""
        if "ScalingTargetId" in p:
            resource_id, dimension, namespace = str(p["ScalingTargetId"]).split("|")
        else:
            namespace, resource_id, dimension = (
                p["ServiceNamespace"],
                p["ResourceId"],
                p["ScalableDimension"],
            )
        return cls(arn, p.get("PolicyName") or name, namespace, resource_id, dimension)

    @classmethod
    def create(
        cls, name: str, p: dict[str, Any], account_id: str, region_name: str
    ) -> ScalingPolicyResource:
        declared = cls._from(name, p)
        body = p.get("TargetTrackingScalingPolicyConfiguration") or p.get(
            "StepScalingPolicyConfiguration"
        )
        policy = _backend(account_id, region_name).put_scaling_policy(
            policy_name=declared.name,
            service_namespace=declared.namespace,
            resource_id=declared.resource_id,
            scalable_dimension=declared.dimension,
            policy_body=body,
            policy_type=p.get("PolicyType"),
        )
        return cls._from(name, p, policy.policy_arn)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        cls._from(resource_name, cloudformation_json["Properties"]).delete(account_id, region_name)

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
