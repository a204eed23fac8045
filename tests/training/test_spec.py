"""The typed job spec → the exact CreateTrainingJob request, checked by botocore's Stubber
against SageMaker's real API model (a request botocore would reject fails here)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from smlocal.core.environments import load
from training.spec import (
    MNIST_METRIC_DEFINITIONS,
    SpecError,
    TrainingJobSpec,
    TrainingOptions,
    job_name,
    spec_for_environment,
)

BUCKET = "sagemaker-us-east-1-123456789012"
JOB = "mnist-2026-01-02-03-04-05-006"
NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
PREFIX = f"s3://{BUCKET}/training-jobs"

EXPECTED_DEV_REQUEST = {
    "TrainingJobName": JOB,
    "RoleArn": "arn:aws:iam::123456789012:role/SageMaker-local",
    "AlgorithmSpecification": {
        "TrainingImage": (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-cpu-py312"
        ),
        "TrainingInputMode": "File",
        "MetricDefinitions": [
            {"Name": "train_loss", "Regex": f"train_loss={NUMBER}"},
            {"Name": "test_loss", "Regex": f"test_loss={NUMBER}"},
            {"Name": "test_accuracy", "Regex": f"test_accuracy={NUMBER}"},
        ],
    },
    "HyperParameters": {
        "epochs": "2",
        "dry-run": "true",
        "sagemaker_program": '"mnist.py"',
        "sagemaker_submit_directory": f'"{PREFIX}/{JOB}/source/sourcedir.tar.gz"',
        "sagemaker_region": '"us-east-1"',
        "sagemaker_container_log_level": "20",
    },
    "InputDataConfig": [
        {
            "ChannelName": "training",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{BUCKET}/data/mnist/",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "InputMode": "File",
        }
    ],
    "OutputDataConfig": {"S3OutputPath": PREFIX},
    "ResourceConfig": {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
}


def _dev_spec(**kwargs: object) -> TrainingJobSpec:
    options = TrainingOptions(
        hyperparameters={"epochs": 2, "dry-run": True},
        instance_count=2,
        max_runtime_sec=3600,
        **kwargs,  # type: ignore[arg-type]
    )
    return spec_for_environment(
        load("dev"), job=JOB, data_uri=f"s3://{BUCKET}/data/mnist/", options=options
    )


def test_dev_request_is_exactly_what_sagemaker_receives() -> None:
    request = _dev_spec().to_request()
    assert request == EXPECTED_DEV_REQUEST
    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{JOB}"
    with Stubber(client) as stub:
        stub.add_response("create_training_job", {"TrainingJobArn": arn}, EXPECTED_DEV_REQUEST)
        assert client.create_training_job(**request)["TrainingJobArn"] == arn
        stub.assert_no_pending_responses()


def test_spot_gpu_request_has_checkpoints_and_max_wait() -> None:
    request = _dev_spec(instance_type="ml.g5.xlarge", use_spot=True).to_request()
    assert request["AlgorithmSpecification"]["TrainingImage"].endswith(
        "pytorch-training:2.6.0-gpu-py312"
    )
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {
        "MaxRuntimeInSeconds": 3600,
        "MaxWaitTimeInSeconds": 3600,
    }
    assert request["CheckpointConfig"] == {
        "S3Uri": f"{PREFIX}/{JOB}/checkpoints",
        "LocalPath": "/opt/ml/checkpoints",
    }
    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:  # botocore validates the request against the API model
        stub.add_response("create_training_job", {"TrainingJobArn": "arn:x"}, request)
        client.create_training_job(**request)


def test_metric_regexes_read_the_lines_mnist_prints() -> None:
    line = "epoch=2 train_loss=0.697059 test_loss=3.1e-02 test_accuracy=0.9194"
    found = {
        d["Name"]: float(re.search(d["Regex"], line).group(1))  # type: ignore[union-attr]
        for d in MNIST_METRIC_DEFINITIONS
    }
    assert found == {"train_loss": 0.697059, "test_loss": 0.031, "test_accuracy": 0.9194}


def test_job_names_follow_the_sdk_style() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=UTC)
    assert job_name("mnist", when) == JOB


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"instance_type": "ml.c5.huge"}, "unknown instance type 'ml.c5.huge'"),
        ({"instance_count": 0}, "instance count must be 1–100, got 0"),
        ({"job_name": "bad_name"}, "job name must be .* got 'bad_name'"),
        ({"channels": {}}, "at least one input channel, got none"),
        ({"channels": {"training": "/local/data"}}, "channel 'training' must be an s3://"),
        ({"use_spot": True, "max_wait_sec": 10}, "max wait >= max runtime \\(3600 s\\), got 10"),
        ({"max_wait_sec": 10}, "max wait applies to spot training only, got 10"),
        ({"max_runtime_sec": 0}, "max runtime must be 1–2419200 s, got 0"),
    ],
)
def test_invalid_specs_are_user_errors(change: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "job_name": JOB,
        "role_arn": "arn:aws:iam::123456789012:role/SageMaker-local",
        "image_uri": "img",
        "region": "us-east-1",
        "sourcedir_uri": f"{PREFIX}/{JOB}/source/sourcedir.tar.gz",
        "output_path": PREFIX,
        "channels": {"training": f"s3://{BUCKET}/data/mnist/"},
        "max_runtime_sec": 3600,
    }
    with pytest.raises(SpecError, match=message):
        TrainingJobSpec(**(fields | change))  # type: ignore[arg-type]
