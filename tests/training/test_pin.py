"""Pinning: only a Completed job whose artifact matches its stored checksum reaches the manifest."""

from __future__ import annotations

import base64
import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from smlocal.core.environments import ENVIRONMENTS_DIR, load_environment
from training.pin import PinError, pin_description, pin_training_job

BUCKET = "sagemaker-us-east-1-123456789012"
KEY = "training-jobs/job-1/output/model.tar.gz"
URI = f"s3://{BUCKET}/{KEY}"
ARTIFACT = b"a model.tar.gz stand-in: the pin checks bytes, not their meaning" * 1000


def _job(status: str = "Completed", **extra: Any) -> dict[str, Any]:
    return {
        "TrainingJobName": "job-1",
        "TrainingJobStatus": status,
        "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
        "ModelArtifacts": {"S3ModelArtifacts": URI},
        "FinalMetricDataList": [
            {"MetricName": "test_accuracy", "Value": 0.93, "Timestamp": datetime.now(UTC)}
        ],
        **extra,
    }


@pytest.fixture
def envdir(tmp_path: Path) -> Path:
    out = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS_DIR, out)
    return out


def test_pin_writes_a_verified_artifact(s3: Any, envdir: Path) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=ARTIFACT, ChecksumAlgorithm="SHA256")
    when = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)
    pin = pin_description("dev", _job(), s3_client=s3, envdir=envdir, now=when)
    assert pin.sha256 == hashlib.sha256(ARTIFACT).hexdigest()
    env = load_environment(envdir / "dev.yaml")
    assert env.model.model_data_url == URI
    assert env.model.metrics == {"test_accuracy": 0.93}
    assert env.model.image == "img:1"
    assert env.model.pinned_at == when.replace(microsecond=0)


def test_a_crc32_checksum_is_verified_too(s3: Any, envdir: Path) -> None:
    # What a plain `aws s3 cp` / boto3 upload stores by default.
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=ARTIFACT, ChecksumAlgorithm="CRC32")
    pin = pin_description("dev", _job(), s3_client=s3, envdir=envdir)
    assert pin.sha256 == hashlib.sha256(ARTIFACT).hexdigest()


def test_a_tampered_artifact_is_refused_and_the_manifest_kept(s3: Any, envdir: Path) -> None:
    original = base64.b64encode(hashlib.sha256(ARTIFACT).digest()).decode()
    # Other bytes stored under the original's checksum: what the pin must catch.
    s3.put_object(
        Bucket=BUCKET,
        Key=KEY,
        Body=ARTIFACT[:-1] + b"!",
        ChecksumAlgorithm="SHA256",
        ChecksumSHA256=original,
    )
    before = (envdir / "dev.yaml").read_bytes()
    with pytest.raises(PinError, match=f"artifact {URI} does not match its stored checksum"):
        pin_description("dev", _job(), s3_client=s3, envdir=envdir)
    assert (envdir / "dev.yaml").read_bytes() == before


def test_jobs_that_did_not_complete_or_lack_an_artifact_are_refused(s3: Any, envdir: Path) -> None:
    before = (envdir / "dev.yaml").read_bytes()
    failed = _job("Failed", FailureReason="AlgorithmError: exit code 1")
    with pytest.raises(
        PinError, match=r"job-1 is Failed \(AlgorithmError: exit code 1\); only a Completed"
    ):
        pin_description("dev", failed, s3_client=s3, envdir=envdir)
    with pytest.raises(PinError, match=r"cannot read artifact s3://.*/nothing\.tar\.gz"):
        missing = _job(ModelArtifacts={"S3ModelArtifacts": f"s3://{BUCKET}/nothing.tar.gz"})
        pin_description("dev", missing, s3_client=s3, envdir=envdir)
    assert (envdir / "dev.yaml").read_bytes() == before


def test_pin_training_job_describes_the_job_first(s3: Any, envdir: Path) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=ARTIFACT, ChecksumAlgorithm="SHA256")
    sagemaker = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    description = _job() | {
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1",
        "SecondaryStatus": "Completed",
        "CreationTime": datetime.now(UTC),
        "ResourceConfig": {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/training-jobs"},
    }
    with Stubber(sagemaker) as stub:
        stub.add_response("describe_training_job", description, {"TrainingJobName": "job-1"})
        pin = pin_training_job(
            "dev", "job-1", sagemaker_client=sagemaker, s3_client=s3, envdir=envdir
        )
    assert pin.training_job == "job-1"
    assert load_environment(envdir / "dev.yaml").model.sha256 == pin.sha256
