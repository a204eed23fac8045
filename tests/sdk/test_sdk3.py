"""The SageMaker Python SDK v3 against the local cloud with nothing but `smlocal cloud env`'s
environment: `ModelTrainer` trains the MNIST script on 2 instances through the v3 container
entrypoint (its `sm_drivers`, this machine's Python), then sagemaker-core's `Model`,
`EndpointConfig` and `Endpoint` serve the model: create, wait, invoke, delete. The SDK lives in
its own venv (`make sdk3-setup`): its pins fight the project's and v2's."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcloud import control
from smlocal.core.catalog import pytorch_image_uri
from tests.helpers.sdk import SDK3_PYTHON, mnist_inputs, run_script

WALKTHROUGH = Path(__file__).with_name("walkthrough_v3.py")


@pytest.mark.slow
@pytest.mark.skipif(
    not SDK3_PYTHON.exists(),
    reason="the SageMaker SDK v3 venv .venv-sdk3 is absent here; `make sdk3-setup` builds it "
    "(make test does)",
)
def test_model_trainer_and_sagemaker_core_run_unmodified(
    cloud: tuple[Path, int], cloud_env: dict[str, str], tmp_path: Path
) -> None:
    state_dir, cloud_port = cloud
    data_dir, source_dir = mnist_inputs(tmp_path)
    image = pytorch_image_uri(
        scope="training",
        region="us-east-1",
        framework_version="2.5",
        py_version="py311",
        processor="cpu",
    )
    args = [str(source_dir), str(data_dir), image]
    seen = run_script(SDK3_PYTHON, WALKTHROUGH, args, cloud_env, tmp_path, '{"role"')
    print("sdk v3 walkthrough, seconds:", seen["seconds"])  # for the figures; not asserted
    assert seen["role"] == "arn:aws:iam::123456789012:role/SageMaker-v3"
    assert seen["job_status"] == "Completed" and seen["hosts"] == 2
    assert seen["model_data"].startswith("s3://sagemaker-us-east-1-123456789012/")
    assert seen["model_data"].endswith("/output/model.tar.gz")
    assert seen["endpoint_status"] == "InService"
    assert seen["probabilities_shape"] == [2, 10]
    assert len(seen["labels"]) == 2 and all(0 <= label <= 9 for label in seen["labels"])

    sagemaker = control.client("sagemaker", cloud_port, state_dir)
    job = sagemaker.describe_training_job(TrainingJobName=seen["deleted"])
    spec = job["AlgorithmSpecification"]
    assert spec["ContainerEntrypoint"]  # the v3 contract ran, not v2 script mode
    assert "sagemaker_program" not in job.get("HyperParameters", {})
    # Both hosts trained: each rank logged in its own stream.
    logs = control.client("logs", cloud_port, state_dir)
    streams = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=seen["deleted"]
    )["logStreams"]
    assert len(streams) == 2
    assert sagemaker.list_endpoints(NameContains=seen["deleted"])["Endpoints"] == []
