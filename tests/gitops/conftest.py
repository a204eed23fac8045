"""Fixtures: a real moto server with two accounts, and manifests in a temporary git repo.

dev lives in moto's default account (123456789012, us-east-1); staging and prod in another
account (222222222222, eu-west-1), reached the way a person would reach it: through
`SMLOCAL_<ENV>_ROLE_ARN`, which `sts.assume_role` turns into that account's credentials.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from smlocal.core.environments import load_environment
from smlocal.core.manifest import ModelPin
from smlocal.core.naming import endpoint_stack_name
from smlocal.core.pins import write_pin

DEV_ACCOUNT, OTHER_ACCOUNT = "123456789012", "222222222222"
DEV_REGION, OTHER_REGION = "us-east-1", "eu-west-1"
DEV_BUCKET = f"sagemaker-{DEV_REGION}-{DEV_ACCOUNT}"
OTHER_BUCKET = f"sagemaker-{OTHER_REGION}-{OTHER_ACCOUNT}"
PROMOTER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/smlocal-promoter"

_MANIFEST = """\
# Desired state of {name}: written by tests.
name: {name}
account: "{account}"
region: {region}
endpoint_kind: serverless
serverless:
  memory_size_mb: 2048
  max_concurrency: 5

# the pin
model: {{}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://localhost:{port}"  # localhost, not 127.0.0.1: see design.md
    finally:
        server.stop()


@dataclass
class Cloud:
    """The moto server with the two accounts' sessions."""

    url: str
    dev: boto3.Session
    other: boto3.Session


@pytest.fixture
def cloud(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    httpx.post(f"{moto_url}/moto-api/reset").raise_for_status()
    for var in list(os.environ):
        if var.startswith(("AWS_", "SMLOCAL_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("SMLOCAL_STAGING_ROLE_ARN", PROMOTER_ROLE)
    monkeypatch.setenv("SMLOCAL_PROD_ROLE_ARN", PROMOTER_ROLE)
    dev = boto3.Session(region_name=DEV_REGION)
    creds = dev.client("sts").assume_role(RoleArn=PROMOTER_ROLE, RoleSessionName="tests")
    c = creds["Credentials"]
    other = boto3.Session(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name=OTHER_REGION,
    )
    dev.client("s3").create_bucket(Bucket=DEV_BUCKET)
    other.client("s3").create_bucket(
        Bucket=OTHER_BUCKET, CreateBucketConfiguration={"LocationConstraint": OTHER_REGION}
    )
    return Cloud(moto_url, dev, other)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo with environments/{dev,staging,prod}.yaml committed, no model pinned."""
    envdir = tmp_path / "environments"
    envdir.mkdir()
    for name, account, region in (
        ("dev", DEV_ACCOUNT, DEV_REGION),
        ("staging", OTHER_ACCOUNT, OTHER_REGION),
        ("prod", OTHER_ACCOUNT, OTHER_REGION),
    ):
        text = _MANIFEST.format(name=name, account=account, region=region)
        (envdir / f"{name}.yaml").write_text(text)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "tests@example.com")
    git(tmp_path, "config", "user.name", "tests")
    git(tmp_path, "config", "commit.gpgsign", "false")
    commit(tmp_path, "environments: dev, staging, prod")
    return envdir


def commit(repo_root: Path, message: str) -> str:
    git(repo_root, "add", "-A")
    git(repo_root, "commit", "-q", "-m", message)
    return git(repo_root, "rev-parse", "HEAD").strip()


def train(
    cloud: Cloud,
    envdir: Path,
    job: str,
    payload: bytes,
    pinned_at: datetime,
    accuracy: float = 0.9,
) -> ModelPin:
    """What a training job leaves behind: an artifact in dev's bucket and a committed pin."""
    key = f"{job}/output/model.tar.gz"
    cloud.dev.client("s3").put_object(Bucket=DEV_BUCKET, Key=key, Body=payload)
    pin = ModelPin(
        model_data_url=f"s3://{DEV_BUCKET}/{key}",
        sha256=hashlib.sha256(payload).hexdigest(),
        training_job=job,
        metrics={"test_accuracy": accuracy, "test_loss": 1 - accuracy},
        pinned_at=pinned_at,
    )
    write_pin(envdir / "dev.yaml", pin)
    commit(envdir.parent, f"dev: pin {job}")
    return pin


def deploy(session: boto3.Session, env_name: str, model_data_url: str) -> str:
    """An EndpointStack stand-in: model, config and endpoint through CloudFormation, with the
    EndpointName output the real stack has. Returns the endpoint name."""
    template = {
        "Resources": {
            "Model": {
                "Type": "AWS::SageMaker::Model",
                "Properties": {
                    "ExecutionRoleArn": "arn:aws:iam::123456789012:role/SageMaker-local",
                    "PrimaryContainer": {
                        "Image": "pytorch-inference",
                        "ModelDataUrl": model_data_url,
                    },
                },
            },
            "Config": {
                "Type": "AWS::SageMaker::EndpointConfig",
                "Properties": {
                    "ProductionVariants": [
                        {
                            "VariantName": "AllTraffic",
                            "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
                            "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
                        }
                    ]
                },
            },
            "Endpoint": {
                "Type": "AWS::SageMaker::Endpoint",
                "Properties": {
                    "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]}
                },
            },
        },
        "Outputs": {"EndpointName": {"Value": {"Fn::GetAtt": ["Endpoint", "EndpointName"]}}},
    }
    cf = session.client("cloudformation")
    name = endpoint_stack_name(env_name)
    cf.create_stack(StackName=name, TemplateBody=json.dumps(template))
    outputs = cf.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    return outputs[0]["OutputValue"]


def pin_of(envdir: Path, name: str) -> ModelPin:
    return load_environment(envdir / f"{name}.yaml").model
