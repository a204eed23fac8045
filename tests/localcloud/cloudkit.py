"""Helpers of the local cloud tests: a cloud process, boto3 clients, models, training requests."""

from __future__ import annotations

import io
import os
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from localcloud import control
from localcloud.shared.credentials import credentials
from localcloud.shared.processes import processes_under

BUCKET = "localcloud-tests"
ROLE_ARN = "arn:aws:iam::123456789012:role/SageMaker-local"
PYTORCH_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5-cpu-py311"
INFERENCE_SCRIPT = Path(__file__).resolve().parents[2] / "inference" / "inference.py"


@dataclass
class Cloud:
    state_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def client(self, service: str, *, retries: int = 3, read_timeout: int = 120) -> Any:
        config = Config(retries={"total_max_attempts": retries}, read_timeout=read_timeout)
        key = credentials(self.state_dir)  # the key the cloud issued at its start
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            config=config,
        )


def start_cloud(state_dir: Path) -> Cloud:
    record = control.start_detached(state_dir, 0)
    return Cloud(state_dir=Path(record["state_dir"]), port=int(record["port"]))


def stop_cloud(cloud: Cloud) -> None:
    assert control.stop(cloud.state_dir) is not None
    deadline = time.monotonic() + 10
    while processes_under(cloud.state_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_under(cloud.state_dir) == [], "the local cloud left processes behind"


def model_archive(script: str | None = None, *, weights: bool = True, seed: int = 0) -> bytes:
    """A model.tar.gz: `model.pth` (random weights of the served Net) and `code/inference.py`."""
    import torch

    from inference.inference import Net

    files: dict[str, bytes] = {
        "code/inference.py": script.encode() if script else INFERENCE_SCRIPT.read_bytes()
    }
    if weights:
        torch.manual_seed(seed)
        buf = io.BytesIO()
        torch.save(Net().state_dict(), buf)
        files["model.pth"] = buf.getvalue()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def put_model(s3: Any, key: str, archive: bytes) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=archive)
    return f"s3://{BUCKET}/{key}"


def create_model_and_config(
    sagemaker: Any, name: str, model_data_url: str, *, serverless: dict | None = None
) -> str:
    """A model and an endpoint config named `name`; returns the config name."""
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={
            "Image": PYTORCH_IMAGE,
            "ModelDataUrl": model_data_url,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
        },
    )
    variant: dict[str, Any] = {"VariantName": "AllTraffic", "ModelName": name}
    if serverless:
        variant["ServerlessConfig"] = serverless
    else:
        variant.update(InitialInstanceCount=1, InstanceType="ml.m5.xlarge")
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    return name


def wait_endpoint(sagemaker: Any, name: str, timeout_s: float = 180) -> dict[str, Any]:
    """DescribeEndpoint once the endpoint has left Creating / Updating."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = sagemaker.describe_endpoint(EndpointName=name)
        if described["EndpointStatus"] not in ("Creating", "Updating"):
            return described
        assert time.monotonic() < deadline, f"endpoint {name} still {described['EndpointStatus']}"
        time.sleep(0.2)


def wait_job(sagemaker: Any, name: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        described = sagemaker.describe_training_job(TrainingJobName=name)
        if described["TrainingJobStatus"] not in ("InProgress", "Stopping"):
            return described
        assert time.monotonic() < deadline, f"job {name} still {described['TrainingJobStatus']}"
        time.sleep(0.5)


def upload_sourcedir(s3: Any, key: str, files: dict[str, Path] | None = None) -> str:
    """sourcedir.tar.gz (default: mnist.py + inference.py) uploaded to the test bucket."""
    from training.sourcedir import pack_sourcedir

    archive = pack_sourcedir(Path(f"/tmp/localcloud-sourcedir-{os.getpid()}.tar.gz"), files)
    try:
        s3.upload_file(str(archive), BUCKET, key)
    finally:
        archive.unlink(missing_ok=True)
    return f"s3://{BUCKET}/{key}"


def training_request(
    name: str,
    sourcedir: str,
    inputs: str,
    *,
    instances: int = 1,
    program: str = "mnist.py",
    hyperparameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A CreateTrainingJob request as the SageMaker SDK writes one (JSON-encoded values)."""
    import json

    hps = {"epochs": 1, "backend": "gloo", **(hyperparameters or {})}
    hps.update(sagemaker_program=program, sagemaker_submit_directory=sourcedir)
    number = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
    return {
        "TrainingJobName": name,
        "HyperParameters": {k: json.dumps(v) for k, v in hps.items()},
        "AlgorithmSpecification": {
            "TrainingImage": PYTORCH_IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": [
                {"Name": "train_loss", "Regex": f"train_loss={number}"},
                {"Name": "test_accuracy", "Regex": f"test_accuracy={number}"},
            ],
        },
        "RoleArn": ROLE_ARN,
        "InputDataConfig": [
            {
                "ChannelName": "training",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": inputs,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/output"},
        "ResourceConfig": {
            "InstanceType": "ml.c5.2xlarge",
            "InstanceCount": instances,
            "VolumeSizeInGB": 10,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
