"""IAM SimulatePrincipalPolicy through the local cloud, from the principal's own policies (what
the SageMaker Python SDK v3 calls to check an execution role)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.cloud import SAGEMAKER_TRUST, Cloud


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture(scope="module")
def iam(cloud: Cloud) -> Any:
    return cloud.client("iam")


def _decisions(iam: Any, arn: str, actions: list[str], **kwargs: Any) -> dict[str, str]:
    results = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=actions, **kwargs)
    return {r["EvalActionName"]: r["EvalDecision"] for r in results["EvaluationResults"]}


def test_a_role_is_evaluated_from_its_inline_and_managed_policies(iam: Any) -> None:
    role = iam.create_role(
        RoleName="simulated", AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST)
    )
    arn = role["Role"]["Arn"]
    actions = ["sagemaker:CreateTrainingJob", "s3:GetObject", "s3:DeleteBucket", "ec2:RunInstances"]
    assert set(_decisions(iam, arn, actions).values()) == {"implicitDeny"}  # no policy yet

    iam.put_role_policy(
        RoleName="simulated",
        PolicyName="train",
        PolicyDocument=_document(
            {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"},
        ),
    )
    managed = iam.create_policy(
        PolicyName="read-data",
        PolicyDocument=_document(
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::data/*"}
        ),
    )
    iam.attach_role_policy(RoleName="simulated", PolicyArn=managed["Policy"]["Arn"])

    assert _decisions(iam, arn, actions, ResourceArns=["arn:aws:s3:::data/x"]) == {
        "sagemaker:CreateTrainingJob": "allowed",
        "s3:GetObject": "allowed",
        "s3:DeleteBucket": "explicitDeny",  # a Deny wins over the managed policy's s3:*
        "ec2:RunInstances": "implicitDeny",
    }
    other = _decisions(iam, arn, ["s3:GetObject"], ResourceArns=["arn:aws:s3:::other/x"])
    assert other == {"s3:GetObject": "implicitDeny"}  # outside the managed policy's Resource
    result = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:DeleteBucket"])
    matched = result["EvaluationResults"][0]["MatchedStatements"]
    assert matched == [{"SourcePolicyId": "train", "SourcePolicyType": "role"}]


def test_an_unknown_principal_is_no_such_entity(iam: Any) -> None:
    with pytest.raises(ClientError) as caught:
        iam.simulate_principal_policy(
            PolicySourceArn="arn:aws:iam::123456789012:role/absent", ActionNames=["s3:GetObject"]
        )
    assert caught.value.response["Error"]["Code"] == "NoSuchEntity"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_resources_are_matched_with_iams_wildcards_and_variables(iam: Any) -> None:
    """The same matcher as the gateway's: a segment-ending `*` covers an SSM parameter's
    hierarchy, `.` is a character, a variable takes its value from ContextEntries."""
    iam.create_user(UserName="simulated-user")
    iam.put_user_policy(
        UserName="simulated-user",
        PolicyName="scoped",
        PolicyDocument=_document(
            {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "arn:aws:ssm:*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b.t/*"},
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::home/${aws:username}/*",
            },
        ),
    )
    arn = iam.get_user(UserName="simulated-user")["User"]["Arn"]
    parameter = "arn:aws:ssm:us-east-1:123456789012:parameter/cdk-bootstrap/hnb659fds/version"
    assert _decisions(iam, arn, ["ssm:GetParameter"], ResourceArns=[parameter]) == {
        "ssm:GetParameter": "allowed"
    }
    assert _decisions(iam, arn, ["s3:GetObject"], ResourceArns=["arn:aws:s3:::bat/k"]) == {
        "s3:GetObject": "implicitDeny"
    }
    username = [
        {"ContextKeyName": "aws:username", "ContextKeyValues": ["bob"], "ContextKeyType": "string"}
    ]
    for home, decision in (("bob", "allowed"), ("eve", "implicitDeny")):
        found = _decisions(
            iam,
            arn,
            ["s3:PutObject"],
            ResourceArns=[f"arn:aws:s3:::home/{home}/notes"],
            ContextEntries=username,
        )
        assert found == {"s3:PutObject": decision}
