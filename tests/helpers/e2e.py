"""The end-to-end tests' helpers: the local cloud as the CDK CLI and `smlocal` reach it (an
environment per account), manifests in a temporary git repo, the CLI runs, and what the
deployed endpoints answer. The session fixtures that build them are in tests/e2e/conftest.py.

dev and prod live in the local cloud's default account (123456789012, us-east-1) and share its
platform stack; staging lives in a second account (222222222222, eu-west-1), reached through
`sts.assume_role` as a person would reach it: the member account's
`OrganizationAccountAccessRole`, which the local cloud's organization gives every account but its
own (as AWS Organizations does in the accounts it creates).
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ruamel.yaml import YAML

from smlocal.core.environments import load_environment
from smlocal.core.manifest import ModelPin
from smlocal.core.naming import OUTPUT_ENDPOINT_NAME, endpoint_stack_name
from smlocal.core.pins import write_pin
from tests.helpers import ROOT
from tests.helpers.cloud import Cloud as LocalCloud
from tests.helpers.cloud import Session

DEV_ACCOUNT, DEV_REGION = "123456789012", "us-east-1"
OTHER_ACCOUNT, OTHER_REGION = "222222222222", "eu-west-1"
DEPLOYER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/OrganizationAccountAccessRole"
PLATFORM = f"SageMakerPlatform-{DEV_ACCOUNT}-{DEV_REGION}"
OTHER_PLATFORM = f"SageMakerPlatform-{OTHER_ACCOUNT}-{OTHER_REGION}"


@dataclass
class Cloud(LocalCloud):
    """The session's local cloud and the environments (processes) that reach its accounts:
    `env` dev's (the cloud's key), `other_env` the second account's (`other`, an assumed
    role)."""

    env: dict[str, str] = field(default_factory=dict)
    other: Session | None = None
    other_env: dict[str, str] = field(default_factory=dict)

    def client(self, service: str, *, other: bool = False, attempts: int = 3) -> Any:  # type: ignore[override]
        if other:
            assert self.other is not None, "the second account was not reached"
            return self.other.client(service, retries=attempts)
        return super().client(service, retries=attempts)


def run(
    argv: list[str], env: dict[str, str], *, check: bool = True, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    """Run a command in the checkout (or `cwd`) as a user would; on an unexpected failure, fail
    the test with the end of its output."""
    proc = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, errors="replace", check=False
    )
    proc.output = proc.stdout + proc.stderr  # type: ignore[attr-defined]
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited with {proc.returncode}:\n{proc.output[-4000:]}")
    return proc


@dataclass
class Repo:
    """Manifests in a temporary git repo (promotion refuses uncommitted manifests)."""

    root: Path

    @property
    def envdir(self) -> Path:
        return self.root / "environments"

    def path(self, name: str) -> Path:
        return self.envdir / f"{name}.yaml"

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.root, check=True, capture_output=True, text=True
        ).stdout

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        if self.git("status", "--porcelain").strip():
            self.git("commit", "-q", "-m", message)

    def pin(self, name: str, pin: ModelPin) -> None:
        write_pin(self.path(name), pin)
        self.commit(f"{name}: pin {pin.training_job}")

    def model(self, name: str) -> ModelPin:
        return load_environment(self.path(name)).model

    def set_endpoint(self, name: str, kind: str, block: dict[str, Any]) -> None:
        """Switch a manifest between provisioned and serverless (one block of that name)."""
        yaml = YAML()
        data = yaml.load(self.path(name).read_text())
        data.pop("provisioned", None)
        data.pop("serverless", None)
        data["endpoint_kind"] = kind
        data.insert(list(data).index("endpoint_kind") + 1, kind, block)
        buffer = io.StringIO()
        yaml.dump(data, buffer)
        self.path(name).write_text(buffer.getvalue())
        load_environment(self.path(name))
        self.commit(f"{name}: {kind}")


def cdk(
    cloud: Cloud, repo: Repo, verb: str, *args: str, other: bool = False, check: bool = True
) -> subprocess.CompletedProcess:
    """The real CDK CLI on the repo's manifests; its cloud assembly in a fresh folder."""
    out = tempfile.mkdtemp(prefix="cdk.out-", dir=cloud.state_dir.parent)
    argv = ["npx", "--no-install", "cdk", verb, "-c", f"envdir={repo.envdir}", "-o", out, *args]
    if verb == "deploy":
        argv += ["--require-approval", "never"]
    if verb == "destroy":
        argv += ["--force"]
    return run(argv, cloud.other_env if other else cloud.env, check=check)


def smlocal(
    cloud: Cloud, *args: str, other: bool = False, check: bool = True, **extra_env: str
) -> subprocess.CompletedProcess:
    env = {**(cloud.other_env if other else cloud.env), **extra_env}
    return run([str(ROOT / ".venv" / "bin" / "smlocal"), *args], env, check=check)


@dataclass(frozen=True)
class Models:
    """Two models trained through the local cloud's CreateTrainingJob, and the test images."""

    a: ModelPin
    b: ModelPin
    data_dir: Path
    images: np.ndarray
    labels: np.ndarray


def outputs(cloud: Cloud, env_name: str, *, other: bool = False) -> dict[str, str]:
    stacks = cloud.client("cloudformation", other=other).describe_stacks(
        StackName=endpoint_stack_name(env_name)
    )["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def endpoint_name(cloud: Cloud, env_name: str, *, other: bool = False) -> str:
    return outputs(cloud, env_name, other=other)[OUTPUT_ENDPOINT_NAME]


def ask(cloud: Cloud, endpoint: str, models: Models, *, other: bool = False) -> np.ndarray:
    """The endpoint's class probabilities for the test images, through sagemaker-runtime."""
    from inference.client import invoke

    runtime = cloud.client("sagemaker-runtime", other=other, attempts=1)
    indices = np.arange(len(models.images))
    result = invoke(runtime, endpoint, indices, models.images, models.labels)
    return np.asarray([p.probabilities for p in result.predictions])


def expected(cloud: Cloud, pin: ModelPin, models: Models, *, other: bool = False) -> np.ndarray:
    """What the pinned artifact's own handlers answer for the test images, run here."""
    from inference.inference import input_fn, model_fn, predict_fn

    assert pin.model_data_url is not None
    bucket, key = pin.model_data_url[5:].split("/", 1)
    body = cloud.client("s3", other=other).get_object(Bucket=bucket, Key=key)["Body"].read()
    with tempfile.TemporaryDirectory() as model_dir:
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            tar.extractall(model_dir, filter="data")
        model = model_fn(model_dir)
    data = input_fn(json.dumps(models.images.tolist()).encode(), "application/json")
    return predict_fn(data, model).numpy()


def deployed_model_url(cloud: Cloud, endpoint: str, *, other: bool = False) -> tuple[str, str]:
    """(endpoint config name, model data URL) the endpoint serves now."""
    sm = cloud.client("sagemaker", other=other)
    config = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    variant = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]
    model = sm.describe_model(ModelName=variant["ModelName"])
    return config, model["PrimaryContainer"]["ModelDataUrl"]
