"""The local cloud for tests: one process on a free port with its own state dir, boto3 clients
signed with the key it issued, the execution role its jobs and endpoints run as (made once per
cloud, as the PlatformStack makes it on AWS), and builders of what tests ask of it (models,
endpoint configs, sourcedirs, training requests), with waits for endpoints and jobs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import boto3
from botocore.config import Config

from localcloud import control
from localcloud.shared.credentials import credentials
from localcloud.shared.persistence import STATE_FILE
from localcloud.shared.processes import processes_under

BUCKET = "localcloud-tests"
ACCOUNT = "123456789012"
ROLE_NAME = "SageMaker-local"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
# SageMaker may assume it for this account's resources only (its confused-deputy condition).
SAGEMAKER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ],
}
# What the tests' jobs and endpoints do through the role: S3, on any bucket of the account.
TESTS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}
T = TypeVar("T")
PYTORCH_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5-cpu-py311"


@dataclass
class Cloud:
    """A running local cloud: its state dir and port, seen with the key the cloud issued at
    its start, in `region`."""

    state_dir: Path
    port: int
    region: str = field(default="us-east-1", kw_only=True)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def _key(self) -> dict[str, str | None]:
        """The key this view signs with (boto3's argument names)."""
        key = credentials(self.state_dir)  # the key the cloud issued at its start
        return {
            "aws_access_key_id": key.access_key_id,
            "aws_secret_access_key": key.secret_access_key,
        }

    def client(self, service: str, *, retries: int = 3, read_timeout: int = 120) -> Any:
        config = Config(retries={"total_max_attempts": retries}, read_timeout=read_timeout)
        return boto3.client(
            service, endpoint_url=self.url, region_name=self.region, config=config, **self._key()
        )

    def assume(
        self, role_arn: str, session: str = "tests", *, region: str | None = None, **params: Any
    ) -> Session:
        """This cloud as a session of `role_arn` (in `region`, default this view's), assumed
        with this view's key (AssumeRole: the role's trust decides); its `client`s sign with
        that session's key."""
        creds = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session, **params)[
            "Credentials"
        ]
        return Session(self.state_dir, self.port, creds, region=region or self.region)


@dataclass
class Session(Cloud):
    """A cloud seen with a temporary key (AssumeRole's `Credentials`) instead of its own."""

    credentials: dict[str, Any] = field(default_factory=dict)

    def _key(self) -> dict[str, str | None]:
        return {
            "aws_access_key_id": self.credentials["AccessKeyId"],
            "aws_secret_access_key": self.credentials["SecretAccessKey"],
            "aws_session_token": self.credentials.get("SessionToken"),
        }


def start_cloud(state_dir: Path, clock_speed: float = 1.0, execution_role: bool = True) -> Cloud:
    """`cloud start` on a free port (its own process), ready when this returns. With
    `execution_role`, the role ROLE_ARN exists in it: made on a new state dir; on a restart it
    must have come back (made again, it would hide a role the state lost, and race the
    recovery of endpoints that act as it)."""
    new = not (Path(state_dir) / STATE_FILE).exists()
    record = control.start_detached(state_dir, 0, clock_speed=clock_speed)
    cloud = Cloud(state_dir=Path(record["state_dir"]), port=int(record["port"]))
    if execution_role:
        iam = cloud.client("iam")
        try:
            if new:
                create_role(iam, ROLE_NAME, SAGEMAKER_TRUST, TESTS_POLICY)
            else:
                try:
                    iam.get_role(RoleName=ROLE_NAME)
                except iam.exceptions.NoSuchEntityException:
                    raise AssertionError(f"role {ROLE_NAME} did not survive the restart") from None
        except BaseException:
            stop_cloud(cloud)
            raise
    return cloud


def create_role(iam: Any, name: str, trust: dict[str, Any], policy: dict[str, Any]) -> str:
    """The role `name` with `trust` and one inline policy (kept if it exists); its ARN."""
    try:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="allowed", PolicyDocument=json.dumps(policy))
    return arn["Role"]["Arn"]


def stop_cloud(cloud: Cloud) -> None:
    """`cloud stop`, then no process of the cloud may be left."""
    assert control.stop(cloud.state_dir) is not None
    deadline = time.monotonic() + 10
    while processes_under(cloud.state_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_under(cloud.state_dir) == [], "the local cloud left processes behind"


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


def poll(
    read: Callable[[], T],
    settled: Callable[[T], bool],
    still: Callable[[T], str],
    timeout_s: float,
    interval_s: float,
) -> T:
    """`read()` again every `interval_s` until `settled` says so; fails with `still` (of the last
    read) after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if settled(value):
            return value
        assert time.monotonic() < deadline, still(value)
        time.sleep(interval_s)


def _until_left(
    read: Callable[[], Any],
    key: str,
    busy: tuple[str, ...],
    what: str,
    timeout_s: float,
    interval_s: float,
) -> Any:
    """`read()` once its `key` is none of `busy`, polled every `interval_s` for `timeout_s`."""

    def settled(got: Any) -> bool:
        return got[key] not in busy

    return poll(read, settled, lambda got: f"{what} still {got[key]}", timeout_s, interval_s)


def wait_endpoint(sagemaker: Any, name: str, timeout_s: float = 180) -> dict[str, Any]:
    """DescribeEndpoint once the endpoint has left Creating / Updating."""
    read = partial(sagemaker.describe_endpoint, EndpointName=name)
    busy = ("Creating", "Updating")
    return _until_left(read, "EndpointStatus", busy, f"endpoint {name}", timeout_s, 0.2)


def wait_job(sagemaker: Any, name: str, timeout_s: float = 300) -> dict[str, Any]:
    """DescribeTrainingJob once the job has ended (neither InProgress nor Stopping)."""
    read = partial(sagemaker.describe_training_job, TrainingJobName=name)
    busy = ("InProgress", "Stopping")
    return _until_left(read, "TrainingJobStatus", busy, f"job {name}", timeout_s, 0.5)


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
    """A CreateTrainingJob request built by the project's own spec (as `smlocal train` builds
    one): channel `training`, the MNIST metric definitions, 1 epoch on gloo by default."""
    from training.spec import TrainingJobSpec

    return TrainingJobSpec(
        job_name=name,
        role_arn=ROLE_ARN,
        image_uri=PYTORCH_IMAGE,
        region="us-east-1",
        sourcedir_uri=sourcedir,
        output_path=f"s3://{BUCKET}/output",
        channels={"training": inputs},
        entry_point=program,
        hyperparameters={"epochs": 1, "backend": "gloo", **(hyperparameters or {})},
        instance_count=instances,
        volume_size_gb=10,
        max_runtime_sec=600,
    ).to_request()


@contextmanager
def running_cloud(
    state_dir: Path, clock_speed: float = 1.0, execution_role: bool = True
) -> Iterator[Cloud]:
    """A local cloud for a `with` block (a package's session fixture): started (with the
    execution role, unless the package deploys its own), then stopped and checked to leave no
    process behind."""
    cloud = start_cloud(state_dir, clock_speed, execution_role)
    try:
        yield cloud
    finally:
        stop_cloud(cloud)
