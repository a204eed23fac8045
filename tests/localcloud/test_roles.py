"""Jobs and endpoints act as their execution role: the data plane gets SageMaker's session of
the role (`gateway.trust.ServiceSessions`) and makes its S3 calls with it, so the role's
policies and the accounts rule (`gateway.accounts`) decide what a training job writes and what
an endpoint serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cloud import (
    BUCKET,
    PYTORCH_IMAGE,
    ROLE_ARN,
    SAGEMAKER_TRUST,
    Cloud,
    create_role,
    put_model,
    training_request,
    upload_sourcedir,
    wait_endpoint,
    wait_job,
)
from tests.helpers.models import model_archive

MEMBER = "111111111111"
PRIVATE = "roles-tests-private"
SCRIPT = 'import os, pathlib\npathlib.Path(os.environ["SM_MODEL_DIR"], "m.txt").write_text("m")\n'


def _policy(*actions: str) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": list(actions), "Resource": "*"}
    return {"Version": "2012-10-17", "Statement": [statement]}


@pytest.fixture(scope="module")
def member(cloud: Cloud) -> Any:
    """S3 of another account of the organization, with its private bucket and a model in it."""
    s3 = cloud.assume(f"arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole").client("s3")
    s3.create_bucket(Bucket=PRIVATE)
    s3.put_object(Bucket=PRIVATE, Key="model.tar.gz", Body=model_archive())
    return s3


@pytest.fixture(scope="module")
def job(s3: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A training request whose script only writes a model file (seconds to run)."""
    script = tmp_path_factory.mktemp("roles") / "train.py"
    script.write_text(SCRIPT)
    s3.put_object(Bucket=BUCKET, Key="roles/data/x.txt", Body=b"x")
    source = upload_sourcedir(s3, "roles/sourcedir.tar.gz", {"train.py": Path(script)})
    return training_request("roles", source, f"s3://{BUCKET}/roles/data", program="train.py")


def _train(sagemaker: Any, request: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    sagemaker.create_training_job(**{**request, "TrainingJobName": name, **changes})
    return wait_job(sagemaker, name, timeout_s=120)


def test_a_job_writes_what_its_role_and_the_buckets_owner_allow(
    cloud: Cloud, sagemaker: Any, s3: Any, member: Any, job: dict[str, Any]
) -> None:
    reader = create_role(
        cloud.client("iam"),
        "roles-tests-reader",
        SAGEMAKER_TRUST,
        _policy("s3:GetObject", "s3:ListBucket"),
    )
    failed = _train(sagemaker, job, "roles-read-only", RoleArn=reader)
    assert failed["TrainingJobStatus"] == "Failed"
    assert failed["FailureReason"].startswith("ClientError: ")
    assert "AccessDenied" in failed["FailureReason"]
    assert "roles-read-only" not in str(s3.list_objects_v2(Bucket=BUCKET, Prefix="output/"))

    # The execution role may write all of its own account's S3, but not another account's.
    elsewhere = {"S3OutputPath": f"s3://{PRIVATE}/output"}
    failed = _train(sagemaker, job, "roles-elsewhere", OutputDataConfig=elsewhere)
    assert failed["TrainingJobStatus"] == "Failed"
    assert "AccessDenied" in failed["FailureReason"]
    assert member.list_objects_v2(Bucket=PRIVATE, Prefix="output/")["KeyCount"] == 0
    grant = {
        "Effect": "Allow",
        "Principal": {"AWS": ROLE_ARN},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{PRIVATE}/output/*",
    }
    member.put_bucket_policy(
        Bucket=PRIVATE, Policy=json.dumps({"Version": "2012-10-17", "Statement": [grant]})
    )
    try:
        done = _train(sagemaker, job, "roles-granted", OutputDataConfig=elsewhere)
        assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")
        artifact = "output/roles-granted/output/model.tar.gz"
        assert member.head_object(Bucket=PRIVATE, Key=artifact)["ContentLength"] > 0
    finally:
        member.delete_bucket_policy(Bucket=PRIVATE)


def test_an_endpoint_whose_role_cannot_read_its_model_fails_with_the_reason(
    cloud: Cloud, sagemaker: Any, s3: Any, member: Any
) -> None:
    lister = create_role(
        cloud.client("iam"), "roles-tests-lister", SAGEMAKER_TRUST, _policy("s3:ListBucket")
    )
    mine = put_model(s3, "roles/model.tar.gz", model_archive())
    theirs = f"s3://{PRIVATE}/model.tar.gz"
    for name, role, url in (("roles-lister", lister, mine), ("roles-theirs", ROLE_ARN, theirs)):
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=role,
            PrimaryContainer={"Image": PYTORCH_IMAGE, "ModelDataUrl": url},
        )
        variant = {"VariantName": "v", "ModelName": name, "InitialInstanceCount": 1}
        sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[{**variant, "InstanceType": "ml.m5.large"}],
        )
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
        described = wait_endpoint(sagemaker, name)
        assert described["EndpointStatus"] == "Failed"
        assert f"could not download the model data {url}" in described["FailureReason"]
        assert "AccessDenied" in described["FailureReason"]
        sagemaker.delete_endpoint(EndpointName=name)
