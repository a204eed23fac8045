"""Each operation named as IAM names it (`localcloud.gateway.arns.checks`, in the Service
Authorization Reference's ARN formats), and decided against a statement scoped to one resource:
allowed inside it, denied outside. Called directly: no cloud (the names that depend on live
resources, KMS aliases, come from moto's backend in this process, in an account of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.gateway.arns import checks
from localcloud.shared.policies import decide

ACCOUNT, REGION = "123456789012", "us-east-1"


def _allowed(resource: str, service: str, operation: str, params: dict[str, Any]) -> bool:
    """Whether a role allowed `service:*` on `resource` (only) may make the call."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": f"{service}:*", "Resource": resource}],
    }
    found = checks(service, operation, params, ACCOUNT, REGION)
    return all(decide([policy], action, arn, {}) == "allowed" for action, arn in found)


BOOTSTRAP_VERSION = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/cdk-bootstrap/hnb659fds/version"


@pytest.mark.parametrize(
    ("service", "operation", "params", "named"),
    [
        # a hierarchical name keeps its leading slash as the separator
        ("ssm", "GetParameter", {"Name": "/cdk-bootstrap/hnb659fds/version"}, [BOOTSTRAP_VERSION]),
        (
            "ssm",
            "GetParameter",
            {"Name": "plain"},
            [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/plain"],
        ),
        (
            "ssm",
            "GetParameter",
            {"Name": "/cdk-bootstrap/hnb659fds/version:3"},
            [BOOTSTRAP_VERSION],
        ),
        ("ssm", "GetParameter", {"Name": BOOTSTRAP_VERSION}, [BOOTSTRAP_VERSION]),
        (
            "ssm",
            "GetParameters",
            {"Names": ["/a", "b"]},
            [
                f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/a",
                f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/b",
            ],
        ),
        (
            "ssm",
            "GetParametersByPath",
            {"Path": "/cdk-bootstrap"},
            [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/cdk-bootstrap"],
        ),
        ("ssm", "DescribeParameters", {}, ["*"]),
        (
            "logs",
            "CreateLogGroup",
            {"logGroupName": "/aws/sagemaker/E"},
            [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/E"],
        ),
        (
            "logs",
            "PutLogEvents",
            {"logGroupName": "g", "logStreamName": "s"},
            [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:g:log-stream:s"],
        ),
        (
            "logs",
            "CreateLogStream",
            {"logGroupName": "g", "logStreamName": "s"},
            [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:g:log-stream:s"],
        ),
        (
            "logs",
            "DescribeLogStreams",
            {"logGroupName": "g"},
            [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:g"],
        ),
        ("logs", "DescribeLogGroups", {"logGroupNamePrefix": "/aws"}, ["*"]),
        (
            "ecr",
            "DescribeImages",
            {"repositoryName": "r"},
            [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/r"],
        ),
        (
            "ecr",
            "BatchGetImage",
            {"repositoryName": "r", "registryId": "111111111111"},
            [f"arn:aws:ecr:{REGION}:111111111111:repository/r"],
        ),
        ("ecr", "GetAuthorizationToken", {}, ["*"]),
        (
            "iam",
            "CreateRole",
            {"RoleName": "r", "Path": "/svc/"},
            [f"arn:aws:iam::{ACCOUNT}:role/svc/r"],
        ),
        (
            "iam",
            "AttachRolePolicy",
            {"RoleName": "r", "PolicyArn": "arn:aws:iam::aws:policy/P"},
            [f"arn:aws:iam::{ACCOUNT}:role/r"],
        ),
        ("iam", "CreatePolicy", {"PolicyName": "p"}, [f"arn:aws:iam::{ACCOUNT}:policy/p"]),
        (
            "iam",
            "GetPolicy",
            {"PolicyArn": "arn:aws:iam::aws:policy/P"},
            ["arn:aws:iam::aws:policy/P"],
        ),
        ("iam", "ListRoles", {}, ["*"]),
        (
            "sts",
            "AssumeRole",
            {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/x"},
            [f"arn:aws:iam::{ACCOUNT}:role/x"],
        ),
        (
            "cloudformation",
            "CreateChangeSet",
            {"StackName": "S", "ChangeSetName": "c"},
            [f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/S/*"],
        ),
        ("cloudformation", "ListStacks", {}, ["*"]),
        (
            "sagemaker",
            "CreateEndpoint",
            {"EndpointName": "E", "EndpointConfigName": "C"},
            [
                f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/e",
                f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/c",
            ],
        ),
        (
            "sagemaker",
            "CreateModel",
            {"ModelName": "M"},
            [f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/m"],
        ),
        ("sagemaker", "ListModels", {}, ["*"]),
    ],
)
def test_operations_are_named_in_iams_arn_formats(
    service: str, operation: str, params: dict[str, Any], named: list[str]
) -> None:
    assert [arn for _, arn in checks(service, operation, params, ACCOUNT, REGION)] == named


@pytest.mark.parametrize(
    ("resource", "service", "operation", "inside", "outside"),
    [
        (  # the CDK bootstrap's own statement
            f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/cdk-bootstrap/hnb659fds/version",
            "ssm",
            "GetParameter",
            {"Name": "/cdk-bootstrap/hnb659fds/version"},
            {"Name": "/cdk-bootstrap/other/version"},
        ),
        (
            f"arn:aws:ssm:*:{ACCOUNT}:parameter/cdk-bootstrap/*",
            "ssm",
            "GetParameters",
            {"Names": ["/cdk-bootstrap/a/version", "/cdk-bootstrap/b/version"]},
            {"Names": ["/cdk-bootstrap/a/version", "/secret"]},  # every name must be allowed
        ),
        (
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/*",
            "logs",
            "PutLogEvents",
            {"logGroupName": "/aws/sagemaker/Endpoints/e", "logStreamName": "AllTraffic/i-1"},
            {"logGroupName": "/aws/lambda/f", "logStreamName": "s"},
        ),
        (
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/e",
            "logs",
            "CreateLogGroup",
            {"logGroupName": "/aws/sagemaker/Endpoints/e"},
            {"logGroupName": "/aws/sagemaker/Endpoints/f"},
        ),
        (
            f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/cdk-*",
            "ecr",
            "DescribeRepositories",
            {"repositoryNames": ["cdk-assets"]},
            {},  # every repository of the registry
        ),
        (
            f"arn:aws:iam::{ACCOUNT}:role/service/*",
            "iam",
            "PutRolePolicy",
            {"RoleName": "r", "Path": "/service/"},
            {"RoleName": "r"},
        ),
        (
            f"arn:aws:iam::{ACCOUNT}:role/cdk-*",
            "sts",
            "AssumeRole",
            {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-deploy-role"},
            {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/admin"},
        ),
        (
            f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/App*",
            "cloudformation",
            "ExecuteChangeSet",
            {"StackName": "AppStack", "ChangeSetName": "cdk-deploy-change-set"},
            {"StackName": "CDKToolkit", "ChangeSetName": "cdk-deploy-change-set"},
        ),
        (  # the endpoint and its config both
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint*/prod-*",
            "sagemaker",
            "CreateEndpoint",
            {"EndpointName": "prod-e", "EndpointConfigName": "prod-c"},
            {"EndpointName": "prod-e", "EndpointConfigName": "dev-c"},
        ),
    ],
)
def test_scoped_statements_allow_inside_and_deny_outside(
    resource: str, service: str, operation: str, inside: dict[str, Any], outside: dict[str, Any]
) -> None:
    assert _allowed(resource, service, operation, inside)
    assert not _allowed(resource, service, operation, outside)


def test_create_endpoint_needs_its_config_too() -> None:
    only_endpoints = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/*"
    params = {"EndpointName": "e", "EndpointConfigName": "c"}
    assert not _allowed(only_endpoints, "sagemaker", "CreateEndpoint", params)


@pytest.fixture
def kms_key() -> Iterator[str]:
    """A key with an alias, in moto's KMS of this process (an account no other test uses)."""
    from moto.kms.models import kms_backends

    backend = kms_backends["210987654321"][REGION]
    key = backend.create_key(
        policy=None,
        key_usage="ENCRYPT_DECRYPT",
        key_spec="SYMMETRIC_DEFAULT",
        description="",
        tags=None,
    )
    backend.create_alias(key.id, "alias/assets")
    yield key.arn
    backend.delete_alias("alias/assets")
    backend.delete_key(key.id)


def test_kms_is_authorised_on_the_key_an_alias_names(kms_key: str) -> None:
    account = "210987654321"
    by_alias = checks("kms", "Encrypt", {"KeyId": "alias/assets"}, account, REGION)
    by_alias_arn = checks(
        "kms", "Encrypt", {"KeyId": f"arn:aws:kms:{REGION}:{account}:alias/assets"}, account, REGION
    )
    assert by_alias == by_alias_arn == [("kms:Encrypt", kms_key)]
    assert checks(
        "kms", "CreateAlias", {"AliasName": "alias/new", "TargetKeyId": kms_key}, account, REGION
    ) == [
        ("kms:CreateAlias", f"arn:aws:kms:{REGION}:{account}:alias/new"),
        ("kms:CreateAlias", kms_key),
    ]
    assert checks(
        "kms",
        "ReEncrypt",
        {"SourceKeyId": kms_key, "DestinationKeyId": "alias/assets"},
        account,
        REGION,
    ) == [
        ("kms:ReEncryptFrom", kms_key),
        ("kms:ReEncryptTo", kms_key),
    ]
    assert checks("kms", "CreateKey", {}, account, REGION) == [("kms:CreateKey", "*")]
