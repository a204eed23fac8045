"""A typed training job spec and the exact `CreateTrainingJob` request it stands for.

`TrainingJobSpec(...).to_request()` is a pure function of the spec (no AWS call), so the same
request goes to SageMaker, to the local cloud, or straight to `training.executor`. Hyperparameters
are JSON-encoded as the SageMaker Python SDK does, with `sagemaker_program` and
`sagemaker_submit_directory` pointing at the uploaded `sourcedir.tar.gz`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from smlocal.core.catalog import instance_gpus, is_known_instance_type, pytorch_image_uri
from smlocal.core.errors import UserError
from smlocal.core.manifest import Environment

ENTRY_POINT = "mnist.py"
DEFAULT_INSTANCE_TYPE = "ml.c5.2xlarge"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
# Regexes over the lines `mnist.py` prints (`epoch=1 train_loss=… test_loss=… test_accuracy=…`).
MNIST_METRIC_DEFINITIONS: tuple[dict[str, str], ...] = (
    {"Name": "train_loss", "Regex": f"train_loss={_NUMBER}"},
    {"Name": "test_loss", "Regex": f"test_loss={_NUMBER}"},
    {"Name": "test_accuracy", "Regex": f"test_accuracy={_NUMBER}"},
)
_JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_S3_URI_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")
_CHANNEL_RE = re.compile(r"^[A-Za-z0-9\.\-_]{1,64}$")


class SpecError(UserError):
    """A training job spec that SageMaker would reject."""


def job_name(prefix: str = "mnist", now: datetime | None = None) -> str:
    """A unique job name in the SDK's style: `<prefix>-YYYY-MM-DD-HH-MM-SS-mmm`."""
    now = now or datetime.now(UTC)
    return f"{prefix}-{now:%Y-%m-%d-%H-%M-%S}-{now.microsecond // 1000:03d}"


@dataclass(frozen=True, kw_only=True)
class TrainingJobSpec:
    """What a training job runs, on what, and where its inputs and outputs live.

    `channels` maps channel names to S3 prefixes; `output_path` is the S3 prefix under which
    the artifact lands at `<output_path>/<job_name>/output/model.tar.gz`.
    """

    job_name: str
    role_arn: str
    image_uri: str
    region: str
    sourcedir_uri: str
    output_path: str
    channels: Mapping[str, str]
    entry_point: str = ENTRY_POINT
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = 1
    volume_size_gb: int = 30
    max_runtime_sec: int = 24 * 3600
    use_spot: bool = False
    max_wait_sec: int | None = None
    checkpoint_uri: str | None = None
    metric_definitions: tuple[Mapping[str, str], ...] = MNIST_METRIC_DEFINITIONS

    def __post_init__(self) -> None:
        if not _JOB_NAME_RE.match(self.job_name):
            raise SpecError(
                f"job name must be 1–63 letters, digits and '-', starting with a letter or "
                f"digit, got {self.job_name!r}"
            )
        if not is_known_instance_type(self.instance_type):
            raise SpecError(f"unknown instance type {self.instance_type!r}")
        if not 1 <= self.instance_count <= 100:
            raise SpecError(f"instance count must be 1–100, got {self.instance_count}")
        if not 1 <= self.volume_size_gb <= 16384:
            raise SpecError(f"volume size must be 1–16384 GB, got {self.volume_size_gb}")
        if not 1 <= self.max_runtime_sec <= 28 * 24 * 3600:
            raise SpecError(f"max runtime must be 1–2419200 s, got {self.max_runtime_sec}")
        if not self.channels:
            raise SpecError("a training job needs at least one input channel, got none")
        for name, uri in self.channels.items():
            if not _CHANNEL_RE.match(name):
                raise SpecError(f"channel name must match [A-Za-z0-9.-_]{{1,64}}, got {name!r}")
            self._check_s3(f"channel {name!r}", uri)
        self._check_s3("sourcedir", self.sourcedir_uri)
        self._check_s3("output path", self.output_path)
        if self.use_spot:
            wait = self.max_wait_sec
            if wait is None or wait < self.max_runtime_sec:
                raise SpecError(
                    f"spot training needs max wait >= max runtime ({self.max_runtime_sec} s), "
                    f"got {wait}"
                )
        elif self.max_wait_sec is not None:
            raise SpecError(f"max wait applies to spot training only, got {self.max_wait_sec}")
        if self.checkpoint_uri is not None:
            self._check_s3("checkpoint", self.checkpoint_uri)

    @staticmethod
    def _check_s3(what: str, uri: str) -> None:
        if not _S3_URI_RE.match(uri):
            raise SpecError(f"{what} must be an s3://bucket/prefix URI, got {uri!r}")

    def to_request(self) -> dict[str, Any]:
        """The `CreateTrainingJob` request (boto3 `create_training_job(**request)`)."""
        hyperparameters = {k: json.dumps(v) for k, v in self.hyperparameters.items()}
        hyperparameters |= {
            "sagemaker_program": json.dumps(self.entry_point),
            "sagemaker_submit_directory": json.dumps(self.sourcedir_uri),
            "sagemaker_region": json.dumps(self.region),
            "sagemaker_container_log_level": json.dumps(20),
        }
        stopping: dict[str, int] = {"MaxRuntimeInSeconds": self.max_runtime_sec}
        request: dict[str, Any] = {
            "TrainingJobName": self.job_name,
            "RoleArn": self.role_arn,
            "AlgorithmSpecification": {
                "TrainingImage": self.image_uri,
                "TrainingInputMode": "File",
                "MetricDefinitions": [dict(m) for m in self.metric_definitions],
            },
            "HyperParameters": hyperparameters,
            "InputDataConfig": [
                {
                    "ChannelName": name,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": uri,
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                    "InputMode": "File",
                }
                for name, uri in self.channels.items()
            ],
            "OutputDataConfig": {"S3OutputPath": self.output_path},
            "ResourceConfig": {
                "InstanceType": self.instance_type,
                "InstanceCount": self.instance_count,
                "VolumeSizeInGB": self.volume_size_gb,
            },
            "StoppingCondition": stopping,
        }
        if self.use_spot:
            request["EnableManagedSpotTraining"] = True
            stopping["MaxWaitTimeInSeconds"] = self.max_wait_sec  # type: ignore[assignment]
        if self.checkpoint_uri is not None:
            request["CheckpointConfig"] = {
                "S3Uri": self.checkpoint_uri,
                "LocalPath": CHECKPOINT_LOCAL_PATH,
            }
        return request


@dataclass(frozen=True, kw_only=True)
class TrainingOptions:
    """What a user chooses for an environment's job (`smlocal train`'s flags), passed along as
    one value from the CLI through `submit` to the spec."""

    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = 1
    max_runtime_sec: int = 24 * 3600
    use_spot: bool = False


def training_prefix(env: Environment) -> str:
    """Where this project keeps training jobs in the environment's default bucket."""
    return f"s3://{env.bucket_name}/training-jobs"


def spec_for_environment(
    env: Environment, *, job: str, data_uri: str, options: TrainingOptions
) -> TrainingJobSpec:
    """The MNIST job of an environment: its bucket, its `SageMaker-local` role, and the PyTorch
    training image of the version it serves with, for the instance's processor."""
    if not is_known_instance_type(options.instance_type):
        raise SpecError(f"unknown instance type {options.instance_type!r}")
    image = pytorch_image_uri(
        scope="training",
        region=env.region,
        framework_version=env.inference_image.framework_version,
        py_version=env.inference_image.py_version,
        processor="gpu" if instance_gpus(options.instance_type) else "cpu",
    )
    prefix = training_prefix(env)
    return TrainingJobSpec(
        job_name=job,
        role_arn=env.role_arn,
        image_uri=image,
        region=env.region,
        sourcedir_uri=f"{prefix}/{job}/source/sourcedir.tar.gz",
        output_path=prefix,
        channels={"training": data_uri},
        hyperparameters=options.hyperparameters,
        instance_type=options.instance_type,
        instance_count=options.instance_count,
        max_runtime_sec=options.max_runtime_sec,
        use_spot=options.use_spot,
        max_wait_sec=options.max_runtime_sec if options.use_spot else None,
        checkpoint_uri=f"{prefix}/{job}/checkpoints" if options.use_spot else None,
    )
