"""The model registry serves: a model created from an approved model package resolves the
package's InferenceSpecification, and its endpoint serves the package's model; the registry
records approval without claiming validation it did not run."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.cloud import PYTORCH_IMAGE, ROLE_ARN, put_model, wait_endpoint
from tests.helpers.models import model_archive

pytestmark = pytest.mark.slow


def test_an_endpoint_serves_an_approved_model_package(
    s3: Any, sagemaker: Any, runtime: Any
) -> None:
    url = put_model(s3, "registry/model.tar.gz", model_archive(seed=3))
    sagemaker.create_model_package_group(ModelPackageGroupName="registry-mnist")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="registry-mnist",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": PYTORCH_IMAGE, "ModelDataUrl": url}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    # No validation or image scan ran: none is reported Completed.
    assert described["ModelPackageStatusDetails"]["ValidationStatuses"] == []
    container = {"ModelPackageName": arn}

    with pytest.raises(ClientError) as pending:
        sagemaker.create_model(
            ModelName="registry-model", ExecutionRoleArn=ROLE_ARN, Containers=[container]
        )
    assert "PendingManualApproval" in pending.value.response["Error"]["Message"]

    sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="looks right"
    )
    sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"k": "v"})
    approved = sagemaker.describe_model_package(ModelPackageName=arn)
    assert approved["ModelApprovalStatus"] == "Approved"
    assert approved["ApprovalDescription"] == "looks right"  # kept: the update left it out

    sagemaker.create_model(
        ModelName="registry-model", ExecutionRoleArn=ROLE_ARN, Containers=[container]
    )
    model = sagemaker.describe_model(ModelName="registry-model")
    assert model["Containers"][0]["ModelDataUrl"] == url
    sagemaker.create_endpoint_config(
        EndpointConfigName="registry-model",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "registry-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="registry", EndpointConfigName="registry-model")
    try:
        assert wait_endpoint(sagemaker, "registry")["EndpointStatus"] == "InService"
        answer = runtime.invoke_endpoint(
            EndpointName="registry",
            ContentType="application/json",
            Body=json.dumps([[0.0] * 784]),
        )
        predictions = json.loads(answer["Body"].read())["predictions"]
        assert len(predictions) == 1 and len(predictions[0]["probabilities"]) == 10
    finally:
        sagemaker.delete_endpoint(EndpointName="registry")


def test_a_model_naming_a_missing_package_is_refused(sagemaker: Any) -> None:
    with pytest.raises(ClientError) as raised:
        sagemaker.create_model(
            ModelName="registry-missing",
            ExecutionRoleArn=ROLE_ARN,
            PrimaryContainer={"ModelPackageName": "no-such-package"},
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "no-such-package" in raised.value.response["Error"]["Message"]
