"""The SageMaker Python SDK v3 against the local cloud with nothing but `smlocal cloud env`'s
environment: `ModelTrainer` trains the MNIST script on 2 instances through the v3 container
entrypoint (its `sm_drivers`, this machine's Python), then sagemaker-core's `Model`,
`EndpointConfig` and `Endpoint` serve the model: create, wait, invoke, delete. The SDK lives in
its own venv (`make sdk3-setup`): its pins fight the project's and v2's."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from localcloud import control
from smlocal.core.catalog import pytorch_image_uri

ROOT = Path(__file__).resolve().parents[2]
SDK3_PYTHON = ROOT / ".venv-sdk3" / "bin" / "python"
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
    from training.data import prepare
    from training.sourcedir import sourcedir_files

    data_dir, source_dir = tmp_path / "data", tmp_path / "source"
    prepare(data_dir, "digits", echo=lambda _line: None)
    source_dir.mkdir()
    for name, path in sourcedir_files().items():
        shutil.copy(path, source_dir / name)
    # No telemetry calls to AWS from a machine that is not on it (the SDK's own config file).
    config = tmp_path / ".config" / "sagemaker" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n"
        "      TelemetryOptOut: true\n"
    )
    image = pytorch_image_uri(
        scope="training",
        region="us-east-1",
        framework_version="2.5",
        py_version="py311",
        processor="cpu",
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **cloud_env}  # nothing else
    done = subprocess.run(
        [str(SDK3_PYTHON), str(WALKTHROUGH), str(source_dir), str(data_dir), image],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    # The SDK's wait panels share the line: the result starts at its own brace.
    marker = '{"role"'
    lines = [line[line.index(marker) :] for line in done.stdout.splitlines() if marker in line]
    assert lines, done.stdout[-4000:] + done.stderr[-4000:]
    seen = json.loads(lines[-1])
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
