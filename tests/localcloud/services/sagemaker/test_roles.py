"""SageMaker assumes the role a Create hands it before recording anything
(`localcloud.services.sagemaker.roles`): a role that does not exist, lives in another account,
or whose trust does not let `sagemaker.amazonaws.com` in for this account is refused with
SageMaker's ValidationException, and nothing is left behind."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.cloud import (
    ACCOUNT,
    BUCKET,
    PYTORCH_IMAGE,
    SAGEMAKER_TRUST,
    TESTS_POLICY,
    Cloud,
    create_role,
    training_request,
)

OTHER = "111111111111"


def _trust(principal: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    return {"Version": "2012-10-17", "Statement": [{**statement, "Condition": condition or {}}]}


@pytest.fixture(scope="module")
def untrusted(cloud: Cloud) -> list[str]:
    """Roles SageMaker cannot assume for a resource of this account."""
    iam = cloud.client("iam")
    return [
        f"arn:aws:iam::{ACCOUNT}:role/roles-tests-missing",
        create_role(iam, "roles-tests-account-only", _trust({"AWS": ACCOUNT}), TESTS_POLICY),
        create_role(
            iam,
            "roles-tests-other-source",
            _trust(
                {"Service": "sagemaker.amazonaws.com"},
                {"StringEquals": {"aws:SourceAccount": OTHER}},
            ),
            TESTS_POLICY,
        ),
        # SageMaker takes a role of the resource's own account only
        f"arn:aws:iam::{OTHER}:role/OrganizationAccountAccessRole",
    ]


def _refused_as_sagemaker_refuses(error: pytest.ExceptionInfo[ClientError], role: str) -> None:
    response = error.value.response
    assert response["Error"]["Code"] == "ValidationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Message"] == (
        f"Could not assume role {role}. Please ensure that the role exists and allows "
        "principal 'sagemaker.amazonaws.com' to assume the role."
    )


def test_creates_with_a_role_sagemaker_cannot_assume_are_refused_and_leave_nothing(
    sagemaker: Any, s3: Any, untrusted: list[str]
) -> None:
    container = {"Image": PYTORCH_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/roles/model.tar.gz"}
    for n, role in enumerate(untrusted):
        with pytest.raises(ClientError) as model:
            sagemaker.create_model(
                ModelName=f"roles-{n}", ExecutionRoleArn=role, PrimaryContainer=container
            )
        _refused_as_sagemaker_refuses(model, role)
        request = training_request(f"roles-{n}", f"s3://{BUCKET}/x.tar.gz", f"s3://{BUCKET}/x")
        with pytest.raises(ClientError) as job:
            sagemaker.create_training_job(**{**request, "RoleArn": role})
        _refused_as_sagemaker_refuses(job, role)
    refused = {f"roles-{n}" for n in range(len(untrusted))}
    names = {m["ModelName"] for m in sagemaker.list_models()["Models"]}
    assert not refused & names
    # (tests/localcloud/test_roles.py names its jobs roles-<word>: only these names count)
    jobs = sagemaker.list_training_jobs(NameContains="roles-")["TrainingJobSummaries"]
    assert not refused & {j["TrainingJobName"] for j in jobs}


def test_the_trust_of_the_platform_role_lets_sagemaker_in(cloud: Cloud, sagemaker: Any) -> None:
    """The trust the PlatformStack gives `SageMaker-local` (aws:SourceAccount and an
    aws:SourceArn of this account) is one SageMaker meets."""
    trust = json.loads(json.dumps(SAGEMAKER_TRUST))
    trust["Statement"][0]["Condition"]["ArnLike"] = {
        "aws:SourceArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:*"
    }
    role = create_role(cloud.client("iam"), "roles-tests-platform", trust, TESTS_POLICY)
    container = {"Image": PYTORCH_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/roles/model.tar.gz"}
    sagemaker.create_model(
        ModelName="roles-platform", ExecutionRoleArn=role, PrimaryContainer=container
    )
    assert sagemaker.describe_model(ModelName="roles-platform")["ExecutionRoleArn"] == role
