"""The gitops tests' world: two accounts on a plain moto server, manifests in a git repo, and
what a training job and an EndpointStack leave behind there.

dev lives in moto's default account (123456789012, us-east-1); staging and prod in another
account (222222222222, eu-west-1), reached the way a person would reach it: through
`SMLOCAL_<ENV>_ROLE_ARN`, which `sts.assume_role` turns into that account's credentials.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import boto3

from smlocal.core.environments import load_environment
from smlocal.core.manifest import ModelPin
from smlocal.core.pins import write_pin
from tests.helpers.moto import SERVERLESS_2048, deploy_endpoint_stand_in

DEV_ACCOUNT, OTHER_ACCOUNT = "123456789012", "222222222222"
DEV_REGION, OTHER_REGION = "us-east-1", "eu-west-1"
DEV_BUCKET = f"sagemaker-{DEV_REGION}-{DEV_ACCOUNT}"
OTHER_BUCKET = f"sagemaker-{OTHER_REGION}-{OTHER_ACCOUNT}"
# The role a person of the management account assumes in a member account of an AWS
# Organization (the local cloud's organization gives every member account one; a plain moto
# server lets any role ARN be assumed).
PROMOTER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/OrganizationAccountAccessRole"

MANIFEST = """\
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


@dataclass
class Accounts:
    """The moto server with the two accounts' sessions."""

    url: str
    dev: boto3.Session
    other: boto3.Session


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def commit(repo_root: Path, message: str) -> str:
    git(repo_root, "add", "-A")
    git(repo_root, "commit", "-q", "-m", message)
    return git(repo_root, "rev-parse", "HEAD").strip()


def train(
    cloud: Accounts,
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
    """An EndpointStack stand-in (serverless 2048 MB) through CloudFormation. Returns the
    endpoint name."""
    return deploy_endpoint_stand_in(
        session, env_name, model_data_url, SERVERLESS_2048, image="pytorch-inference"
    )


def pin_of(envdir: Path, name: str) -> ModelPin:
    return load_environment(envdir / f"{name}.yaml").model
