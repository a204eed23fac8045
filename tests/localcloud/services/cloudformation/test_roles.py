"""A role's `ManagedPolicyArns` are attached, as CloudFormation attaches them on AWS (and
detached when the stack goes); one that
names a policy that does not exist fails the role with IAM's NoSuchEntity, and the stack rolls
back."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers.cloud import SAGEMAKER_TRUST as TRUST
from tests.helpers.cloudformation import stack_status

FULL_ACCESS = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"


def _role(name: str, *arns: str) -> str:
    properties = {"RoleName": name, "AssumeRolePolicyDocument": TRUST, "ManagedPolicyArns": arns}
    return json.dumps({"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": properties}}})


def test_a_role_gets_its_managed_policies(cloud: Any) -> None:
    cfn, iam = cloud.client("cloudformation"), cloud.client("iam")
    cfn.create_stack(StackName="managed-role", TemplateBody=_role("managed-role", FULL_ACCESS))
    assert stack_status(cfn, "managed-role") == "CREATE_COMPLETE"
    attached = iam.list_attached_role_policies(RoleName="managed-role")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [FULL_ACCESS]

    readonly = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    cfn.update_stack(StackName="managed-role", TemplateBody=_role("managed-role", readonly))
    assert stack_status(cfn, "managed-role") == "UPDATE_COMPLETE"
    attached = iam.list_attached_role_policies(RoleName="managed-role")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [readonly]
    cfn.delete_stack(StackName="managed-role")  # detached first: IAM keeps a role that has any
    cfn.get_waiter("stack_delete_complete").wait(
        StackName="managed-role", WaiterConfig={"Delay": 1}
    )
    assert "managed-role" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]


def test_a_managed_policy_that_does_not_exist_fails_the_stack(cloud: Any) -> None:
    cfn, iam = cloud.client("cloudformation"), cloud.client("iam")
    bogus = "arn:aws:iam::aws:policy/NoSuchPolicy"
    cfn.create_stack(StackName="bogus-role", TemplateBody=_role("bogus-role", bogus))

    assert stack_status(cfn, "bogus-role") == "ROLLBACK_COMPLETE"
    [failed] = [
        e
        for e in cfn.describe_stack_events(StackName="bogus-role")["StackEvents"]
        if e["ResourceStatus"] == "CREATE_FAILED"
    ]
    assert failed["LogicalResourceId"] == "Role"
    assert failed["ResourceStatusReason"] == (
        f"Policy {bogus} does not exist or is not attachable. "
        "(Service: AmazonIdentityManagement; Status Code: 404; Error Code: NoSuchEntity)"
    )
    assert "bogus-role" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
