"""A CloudFormation role's `ManagedPolicyArns` (`localcloud.services.cloudformation.
managed_policies`): attached, AWS managed ones too (as the CDK bootstrap's deploy role has
`AWSCloudFormationReadOnlyAccess`), detached when the stack goes; a policy that exists nowhere
fails the stack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import WaiterError

from tests.helpers.cloud import Cloud

READ_ONLY = "arn:aws:iam::aws:policy/AWSCloudFormationReadOnlyAccess"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudformation.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _template(role: str, *policies: str) -> str:
    properties: dict[str, Any] = {
        "RoleName": role,
        "AssumeRolePolicyDocument": TRUST,
        "ManagedPolicyArns": list(policies),
    }
    return json.dumps({"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": properties}}})


def test_managed_policies_are_attached_and_detached(cloud: Cloud) -> None:
    cfn, iam = cloud.client("cloudformation"), cloud.client("iam")
    cfn.create_stack(
        StackName="managed-policies", TemplateBody=_template("managed-policies-role", READ_ONLY)
    )
    cfn.get_waiter("stack_create_complete").wait(
        StackName="managed-policies", WaiterConfig={"Delay": 1}
    )
    attached = iam.list_attached_role_policies(RoleName="managed-policies-role")
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [READ_ONLY]
    cfn.delete_stack(StackName="managed-policies")
    cfn.get_waiter("stack_delete_complete").wait(
        StackName="managed-policies", WaiterConfig={"Delay": 1}
    )
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert "managed-policies-role" not in roles


def test_a_policy_that_exists_nowhere_fails_the_stack(cloud: Cloud) -> None:
    cfn = cloud.client("cloudformation")
    missing = "arn:aws:iam::aws:policy/NoSuchPolicyAnywhere"
    cfn.create_stack(StackName="managed-missing", TemplateBody=_template("missing-role", missing))
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_create_complete").wait(
            StackName="managed-missing", WaiterConfig={"Delay": 1}
        )
    (stack,) = cfn.describe_stacks(StackName="managed-missing")["Stacks"]
    events = cfn.describe_stack_events(StackName="managed-missing")["StackEvents"]
    (failed,) = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert missing in failed["ResourceStatusReason"]
    roles = [r["RoleName"] for r in cloud.client("iam").list_roles()["Roles"]]
    assert "missing-role" not in roles  # nothing of the failed resource is left
