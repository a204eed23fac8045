"""Images that cannot run here, and model data in JumpStart's buckets, are refused where a model
would use them (ValidationException naming the image or the bucket); the PyTorch framework
images are accepted."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.cloud import BUCKET, PYTORCH_IMAGE, ROLE_ARN

ECR = "dkr.ecr.us-east-1.amazonaws.com"
XGBOOST = f"683313688378.{ECR}/sagemaker-xgboost:1.7-1"
HUGGING_FACE = f"763104351884.{ECR}/huggingface-pytorch-inference:2.1-transformers4.37-cpu-py310"
PRIVATE = f"123456789012.{ECR}/my-model:latest"
SKLEARN = f"683313688378.{ECR}/sagemaker-scikit-learn:1.2-1-cpu-py3"
DATA = f"s3://{BUCKET}/m.tar.gz"


def refusal(caught: pytest.ExceptionInfo[ClientError]) -> str:
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Message"]


@pytest.mark.parametrize(
    "image",
    [XGBOOST, HUGGING_FACE, PRIVATE, SKLEARN, "docker.io/library/python:3.11"],
    ids=["xgboost", "hugging-face", "ecr-private", "scikit-learn", "docker-hub"],
)
def test_an_image_that_cannot_run_here_is_refused_with_its_name(sagemaker: Any, image: str) -> None:
    with pytest.raises(ClientError) as caught:
        sagemaker.create_model(
            ModelName="cannot-run",
            ExecutionRoleArn=ROLE_ARN,
            PrimaryContainer={"Image": image, "ModelDataUrl": DATA},
        )
    message = refusal(caught)
    assert f"PrimaryContainer image {image} cannot run in the local cloud" in message
    assert "pytorch-inference" in message and "pytorch-training" in message
    with pytest.raises(ClientError, match="Could not find model"):
        sagemaker.describe_model(ModelName="cannot-run")  # nothing recorded


def test_pytorch_framework_images_are_accepted(sagemaker: Any) -> None:
    for i, repository in enumerate(
        ["pytorch-inference", "pytorch-training", "pytorch-inference-graviton"]
    ):
        name = f"framework-image-{i}"
        image = f"763104351884.{ECR}/{repository}:2.5-cpu-py311"
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=ROLE_ARN,
            PrimaryContainer={"Image": image, "ModelDataUrl": DATA},
        )
        assert sagemaker.describe_model(ModelName=name)["PrimaryContainer"]["Image"] == image
        sagemaker.delete_model(ModelName=name)


def test_every_container_and_a_model_package_s_image_are_checked(sagemaker: Any) -> None:
    ok = {"Image": PYTORCH_IMAGE, "ModelDataUrl": DATA}
    with pytest.raises(ClientError) as caught:
        sagemaker.create_model(
            ModelName="two-containers",
            ExecutionRoleArn=ROLE_ARN,
            Containers=[ok, {"Image": XGBOOST, "ModelDataUrl": DATA}],
        )
    assert refusal(caught).startswith(f"Containers.2 image {XGBOOST} cannot run")

    arn = sagemaker.create_model_package(
        ModelPackageName="xgboost-package",
        InferenceSpecification={
            "Containers": [{"Image": XGBOOST, "ModelDataUrl": DATA}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    with pytest.raises(ClientError) as caught:
        sagemaker.create_model(
            ModelName="from-package",
            ExecutionRoleArn=ROLE_ARN,
            Containers=[{"ModelPackageName": arn}],
        )
    assert f"image {XGBOOST} cannot run" in refusal(caught)


@pytest.mark.parametrize(
    "container",
    [
        {"ModelDataUrl": "s3://jumpstart-cache-prod-us-east-1/pytorch-ic/model.tar.gz"},
        {
            "ModelDataSource": {
                "S3DataSource": {
                    "S3Uri": "s3://jumpstart-private-cache-prod-us-east-1/meta-textgeneration/",
                    "S3DataType": "S3Prefix",
                    "CompressionType": "None",
                }
            }
        },
    ],
    ids=["ModelDataUrl", "ModelDataSource"],
)
def test_model_data_in_jumpstart_s_buckets_is_refused_as_jumpstart(
    sagemaker: Any, container: dict[str, Any]
) -> None:
    with pytest.raises(ClientError) as caught:
        sagemaker.create_model(
            ModelName="jumpstart",
            ExecutionRoleArn=ROLE_ARN,
            PrimaryContainer={"Image": PYTORCH_IMAGE, **container},
        )
    message = refusal(caught)
    assert "JumpStart is not available offline: jumpstart-" in message
    assert "-cache-prod-us-east-1 is AWS's JumpStart bucket" in message


def test_a_recorded_model_that_cannot_run_is_refused_where_it_would_start() -> None:
    # A model recorded before this rule (a state dir of an older cloud): moto's own backend,
    # unpatched in this process, holds it; CreateEndpoint / UpdateEndpoint / CreateTransformJob
    # run these checks first.
    from moto.sagemaker.models import SageMakerModelBackend

    from localcloud.services.sagemaker.images import check_config, check_model
    from localcloud.shared.errors import SageMakerValidation

    backend = SageMakerModelBackend("us-east-1", "123456789012")
    container = {"Image": XGBOOST, "ModelDataUrl": DATA}
    backend.create_model("old", ROLE_ARN, container, None, None, None)
    variant = {"VariantName": "AllTraffic", "ModelName": "old", "InstanceType": "ml.m5.large"}
    backend.create_endpoint_config("old", [variant], {}, {}, [], "")
    with pytest.raises(
        SageMakerValidation, match=f"Variant AllTraffic .model old. image {XGBOOST}"
    ):
        check_config(backend, "old")
    with pytest.raises(SageMakerValidation, match=f"ModelName .model old. image {XGBOOST}"):
        check_model(backend, "old", "ModelName")
