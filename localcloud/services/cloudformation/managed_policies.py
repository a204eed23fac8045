"""`AWS::IAM::Role`'s `ManagedPolicyArns`, attached as CloudFormation does (moto's
CloudFormation drops them), with an AWS managed policy (`arn:aws:iam::aws:policy/...`) taken
from moto's copy of AWS's policies when a role first names it. The CDK's bootstrap stack gives
its deploy role `AWSCloudFormationReadOnlyAccess` this way; without it `cdk deploy` cannot
read its own stack. A policy that exists nowhere fails the resource (NoSuchEntity), as on AWS.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from moto.iam.models import AWSManagedPolicy, IAMBackend, Role, iam_backends
from moto.utilities.utils import get_partition

_AWS_POLICY = ":iam::aws:policy/"


@cache
def _aws_policies() -> dict[str, Any]:
    """AWS's managed policies as moto ships them, by name (read once, on first use)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)


def ensure_aws_policy(backend: IAMBackend, arn: str) -> None:
    """Make the AWS managed policy `arn` present in `backend` when moto knows it."""
    if _AWS_POLICY not in arn or arn in backend.managed_policies:
        return
    data = _aws_policies().get(arn.rsplit("/", 1)[-1])
    if data is None:
        return
    policy = AWSManagedPolicy.from_data(
        arn.rsplit("/", 1)[-1], backend.account_id, backend.region_name, data
    )
    if policy.arn == arn:
        backend.managed_policies[arn] = policy


def _attach(backend: IAMBackend, role: Role, arns: list[str]) -> None:
    """Attach `arns` to the role, detaching what it had and no longer names."""
    for arn in [a for a in role.managed_policies if a not in arns]:
        backend.detach_role_policy(arn, role.name)
    for arn in [a for a in arns if a not in role.managed_policies]:
        ensure_aws_policy(backend, arn)
        backend.attach_role_policy(arn, role.name)


def _backend(account_id: str, region_name: str) -> IAMBackend:
    return iam_backends[account_id][get_partition(region_name)]


def _create(original: Any) -> Any:
    def create_from_cloudformation_json(
        cls: type[Role],
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Role:
        role = original.__func__(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        arns = cloudformation_json["Properties"].get("ManagedPolicyArns", [])
        try:
            _attach(_backend(account_id, region_name), role, arns)
        except Exception:
            # the resource failed: nothing of it is left (the stack's rollback cannot know it)
            cls.delete_from_cloudformation_json(
                role.name, cloudformation_json, account_id, region_name
            )
            raise
        return role

    return classmethod(create_from_cloudformation_json)


def _update(original: Any) -> Any:
    def update_from_cloudformation_json(
        cls: type[Role],
        original_resource: Role,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Role:
        role = original.__func__(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
        arns = cloudformation_json["Properties"].get("ManagedPolicyArns", [])
        _attach(_backend(account_id, region_name), role, arns)
        return role

    return classmethod(update_from_cloudformation_json)


def _delete(original: Any) -> Any:
    def delete_from_cloudformation_json(
        cls: type[Role],
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        backend = _backend(account_id, region_name)
        role = next((r for r in list(backend.roles.values()) if r.name == resource_name), None)
        if role is not None:
            # CloudFormation detaches what the role declared; moto hands the delete the
            # template's unresolved properties, so the role's own list says what that was
            for arn in list(role.managed_policies):
                backend.detach_role_policy(arn, role.name)
        original.__func__(cls, resource_name, cloudformation_json, account_id, region_name)

    return classmethod(delete_from_cloudformation_json)


def install() -> None:
    """Attach, update and detach a CloudFormation role's managed policies."""
    Role.create_from_cloudformation_json = _create(Role.create_from_cloudformation_json)  # type: ignore[method-assign]
    Role.update_from_cloudformation_json = _update(Role.update_from_cloudformation_json)  # type: ignore[method-assign]
    Role.delete_from_cloudformation_json = _delete(Role.delete_from_cloudformation_json)  # type: ignore[method-assign]
