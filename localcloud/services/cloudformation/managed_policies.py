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


def _create_role(original: Any) -> Any:
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
        backend = iam_backends[account_id][get_partition(region_name)]
        for arn in cloudformation_json["Properties"].get("ManagedPolicyArns", []):
            ensure_aws_policy(backend, arn)
            backend.attach_role_policy(arn, role.name)
        return role

    return classmethod(create_from_cloudformation_json)


def install() -> None:
    """Attach a CloudFormation role's managed policies."""
    Role.create_from_cloudformation_json = _create_role(Role.create_from_cloudformation_json)  # type: ignore[method-assign]
