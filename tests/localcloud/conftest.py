"""One local cloud per session, started as its own process on a free port, driven through boto3
only, as a user's code would; it is stopped at the end and must leave no process behind. This
conftest serves every subfolder (gateway/, services/, dataplane/, shared/). A second one,
`fast_cloud`, runs its clock at FAST x (a one-minute period lasts a real second) for what acts
on the clock (alarms, Application Auto Scaling, deployment guardrails); it starts only when a
test asks for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.cloud import (
    BUCKET,
    Cloud,
    running_cloud,
    training_request,
    upload_sourcedir,
    wait_job,
)

FAST = 60.0


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    # The cloud makes its state dir itself (pytest's own folders are private already, which
    # would hide the modes the cloud gives it).
    with running_cloud(tmp_path_factory.mktemp("cloud") / "state") as running:
        yield running


@pytest.fixture(scope="session")
def fast_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """A second cloud for what acts on the clock (alarms, scaling, deployment guardrails, async
    requests' time to live): its clock runs at FAST x, so a one-minute period lasts a real
    second. Started once, only when a test asks for it."""
    with running_cloud(tmp_path_factory.mktemp("fast-cloud"), clock_speed=FAST) as running:
        yield running


@pytest.fixture(scope="session")
def s3(cloud: Cloud) -> Any:
    client = cloud.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="session")
def sagemaker(cloud: Cloud) -> Any:
    return cloud.client("sagemaker")


@pytest.fixture(scope="session")
def runtime(cloud: Cloud) -> Any:
    return cloud.client("sagemaker-runtime", retries=1)


@pytest.fixture(scope="session")
def training_inputs(s3: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The digits in MNIST IDX format, uploaded as the `training` channel."""
    from training.data import prepare

    directory = tmp_path_factory.mktemp("mnist")
    prepare(directory, "digits", echo=lambda _line: None)
    for path in sorted(directory.iterdir()):
        s3.upload_file(str(path), BUCKET, f"data/mnist/{path.name}")
    return f"s3://{BUCKET}/data/mnist"


@pytest.fixture(scope="session")
def mnist_sourcedir(s3: Any) -> str:
    return upload_sourcedir(s3, "code/mnist/sourcedir.tar.gz")


@pytest.fixture(scope="session")
def trained_job(sagemaker: Any, mnist_sourcedir: str, training_inputs: str) -> dict[str, Any]:
    """A 2-instance (gloo) MNIST training job run to its end."""
    request = training_request("mnist-2-hosts", mnist_sourcedir, training_inputs, instances=2)
    sagemaker.create_training_job(**request)
    return wait_job(sagemaker, "mnist-2-hosts")
