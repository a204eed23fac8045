"""The catalog of instance types and Deep Learning Container images: lookups and URIs."""

from __future__ import annotations

import pytest

from smlocal.core.catalog import (
    dlc_registry,
    dlc_repository_arns,
    ecr_repository_arn,
    instance_gpus,
    is_known_instance_type,
    pytorch_image_uri,
)


def test_instance_types_are_known_with_their_gpus() -> None:
    assert is_known_instance_type("ml.m5.large")
    assert not is_known_instance_type("ml.m5.huge")
    assert not is_known_instance_type("m5.large")  # the ml. prefix is part of the name
    assert instance_gpus("ml.c5.2xlarge") == 0
    assert instance_gpus("ml.g5.12xlarge") == 4
    with pytest.raises(ValueError) as caught:
        instance_gpus("ml.x9.large")
    assert str(caught.value) == "unknown instance type 'ml.x9.large'"


def test_the_registry_depends_on_the_region_and_partition() -> None:
    assert dlc_registry("us-east-1") == "763104351884.dkr.ecr.us-east-1.amazonaws.com"
    assert dlc_registry("af-south-1") == "626614931356.dkr.ecr.af-south-1.amazonaws.com"
    assert dlc_registry("cn-north-1") == "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn"


def test_pytorch_image_uri_is_the_sdks() -> None:
    versions = {"framework_version": "2.5", "py_version": "py311", "processor": "gpu"}
    uri = pytorch_image_uri(scope="training", region="eu-west-1", **versions)
    assert uri == "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.5-gpu-py311"


@pytest.mark.parametrize(
    ("image", "arn"),
    [
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.5-cpu-py311",
            "arn:aws:ecr:us-east-1:763104351884:repository/pytorch-inference",
        ),
        (
            "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch-training@sha256:" + "0" * 64,
            "arn:aws-cn:ecr:cn-north-1:727897471807:repository/pytorch-training",
        ),
        ("pytorch-inference:2.5", None),
        ("docker.io/library/python:3.11", None),
    ],
)
def test_ecr_repository_arn(image: str, arn: str | None) -> None:
    assert ecr_repository_arn(image) == arn


def test_dlc_repository_arns_are_training_and_inference() -> None:
    assert dlc_repository_arns("me-south-1") == [
        "arn:aws:ecr:me-south-1:217643126080:repository/pytorch-training",
        "arn:aws:ecr:me-south-1:217643126080:repository/pytorch-inference",
    ]
